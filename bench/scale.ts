/**
 * `npm run bench:scale -- --devices 40`: a room of one dashboard (Chromium) and N Node devices
 * (`npm run device -- <join URL> --devices N`, one process): how long the room takes to form
 * and be planned, what each device costs in memory, and whether the room answers, sample for
 * sample, as the offline reference (ensemble, 8 in flight; early exit at the calibrated
 * thresholds). Writes bench/results/scale-<date>.md (and .json). A benchmark, not a test.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { chromium } from '@playwright/test'
import { exitTable, expectAt } from '../e2e/early-exit-reference.ts'
import { ensembleReference, loadManifest } from '../e2e/ensemble-reference.ts'
import {
  createRoomAsHost,
  runSamples,
  startCohortServer,
  startNodeDevices,
  waitForEnsembleOf,
} from '../e2e/harness.ts'
import { chromiumArgs } from '../playwright.config.ts'
import { summarize } from './stats.ts'

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '40' },
    samples: { type: 'string', default: '200' },
    task: { type: 'string', default: 'fashion' },
    out: { type: 'string', default: 'bench/results' },
  },
})
const DEVICES = Number(args.devices)
const SAMPLES = Number(args.samples)
const TASK = args.task ?? 'fashion'
const WINDOW = 8
/** Thresholds no confidence reaches: every sample goes through every tier. */
const NEVER_EXIT = [2, 2]

const log = (message: string) =>
  console.error(`[scale ${new Date().toISOString().slice(11, 19)}] ${message}`)

interface EarlyExitOutcome {
  index: number
  prediction: number | null
  exitIndex: number | null
  degraded: boolean
  error: string | null
  latencyMs: number
}
type HostWindow = {
  cohort: {
    host: {
      runEarlyExit(options: {
        samples: number
        deadlineMs: number
        thresholds?: number[]
      }): Promise<EarlyExitOutcome[]>
    }
    mesh: {
      peers(): { link: string }[]
      plan: { earlyExit: { tiers: { tier: string; members: string[] }[] } | null } | null
    }
  }
}

const server = await startCohortServer({ args: ['--seats-per-address', String(DEVICES + 8)] })
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: chromiumArgs,
})
try {
  const manifest = loadManifest(TASK)
  const host = await createRoomAsHost(browser, server)
  await host.page.goto(`${host.page.url()}?task=${TASK}&threads=1`)
  const joinUrl = `${host.joinUrl}?task=${TASK}`
  log(`${DEVICES} Node devices joining ${joinUrl}`)
  const started = performance.now()
  const nodes = await startNodeDevices(joinUrl, ['--devices', String(DEVICES)])
  const servingMs = performance.now() - started
  log(`all serving after ${(servingMs / 1000).toFixed(1)} s`)
  await waitForEnsembleOf(host.page, nodes.ids)
  const plannedMs = performance.now() - started
  log(`planned after ${(plannedMs / 1000).toFixed(1)} s`)
  // The fleet's own line comes last (its processes print theirs first).
  const memoryLine = [
    ...nodes.log.join('').matchAll(/RSS ([\d.]+) MiB, ([\d.]+) MiB per device/g),
  ].at(-1)
  const openLinks = await host.page.evaluate(
    () =>
      (window as unknown as HostWindow).cohort.mesh.peers().filter((peer) => peer.link === 'open')
        .length,
  )
  const tiers = await host.page.evaluate(
    () => (window as unknown as HostWindow).cohort.mesh.plan?.earlyExit?.tiers ?? [],
  )

  log(`ensemble: ${SAMPLES} samples, ${WINDOW} in flight`)
  const t0 = performance.now()
  const ensemble = await runSamples(host.page, SAMPLES, { window: WINDOW })
  const ensembleSeconds = (performance.now() - t0) / 1000
  const references = new Map<number, number[]>()
  let ensembleWrong = 0
  for (const outcome of ensemble) {
    const k = outcome.k ?? 0
    if (!references.has(k)) references.set(k, await ensembleReference(manifest, k, SAMPLES))
    if (outcome.error !== null || outcome.prediction !== references.get(k)?.[outcome.index])
      ensembleWrong++
  }
  log(`early exit: ${SAMPLES} samples at the calibrated thresholds`)
  const expected = expectAt(
    manifest,
    await exitTable(manifest, SAMPLES),
    manifest.earlyExit.thresholds,
    SAMPLES,
  )
  const earlyExit = await host.page.evaluate(
    (options) => (window as unknown as HostWindow).cohort.host.runEarlyExit(options),
    { samples: SAMPLES, deadlineMs: 5_000 },
  )
  const earlyExitWrong = earlyExit.filter(
    (o) =>
      o.error !== null ||
      o.exitIndex !== expected.exits[o.index] ||
      o.prediction !== expected.predictions[o.index],
  ).length
  // And every sample through every tier: hops from edge devices to cloud devices, over the links
  // the plan made between them.
  log(`early exit: ${SAMPLES} samples, every one to the cloud`)
  const toCloud = expectAt(manifest, await exitTable(manifest, SAMPLES), NEVER_EXIT, SAMPLES)
  const hops = await host.page.evaluate(
    (options) => (window as unknown as HostWindow).cohort.host.runEarlyExit(options),
    { samples: SAMPLES, deadlineMs: 5_000, thresholds: NEVER_EXIT },
  )
  const hopsWrong = hops.filter(
    (o) =>
      o.error !== null ||
      o.exitIndex !== toCloud.exits[o.index] ||
      o.prediction !== toCloud.predictions[o.index],
  ).length

  const result = {
    date: new Date().toISOString(),
    devices: DEVICES,
    samples: SAMPLES,
    servingSeconds: servingMs / 1000,
    plannedSeconds: plannedMs / 1000,
    processRssMiB: memoryLine ? Number(memoryLine[1]) : null,
    perDeviceMiB: memoryLine ? Number(memoryLine[2]) : null,
    dashboardOpenLinks: openLinks,
    tiers: tiers.map((tier) => ({ tier: tier.tier, members: tier.members.length })),
    ensemble: {
      answered: ensemble.filter((o) => o.error === null).length,
      degraded: ensemble.filter((o) => o.degraded).length,
      notReference: ensembleWrong,
      requestsPerSecond: SAMPLES / ensembleSeconds,
      latency: summarize(ensemble.filter((o) => o.error === null).map((o) => o.latencyMs)),
    },
    earlyExit: {
      answered: earlyExit.filter((o) => o.error === null).length,
      degraded: earlyExit.filter((o) => o.degraded).length,
      notReference: earlyExitWrong,
      latency: summarize(earlyExit.filter((o) => o.error === null).map((o) => o.latencyMs)),
    },
    earlyExitToCloud: {
      answered: hops.filter((o) => o.error === null).length,
      degraded: hops.filter((o) => o.degraded).length,
      notReference: hopsWrong,
      latency: summarize(hops.filter((o) => o.error === null).map((o) => o.latencyMs)),
    },
  }
  await nodes.stop('SIGINT')
  const date = result.date.slice(0, 10)
  const ms = (n: number) => n.toFixed(2)
  const report = [
    `# Scale: 1 dashboard + ${DEVICES} Node devices (${date})`,
    '',
    `\`npm run bench:scale -- --devices ${DEVICES} --samples ${SAMPLES}\` on this machine (2 shared cores). The dashboard is a headless`,
    `Chromium page; the ${DEVICES} devices run from one \`npm run device -- --devices ${DEVICES}\` (processes of 10; onnxruntime-node, 1 thread`,
    'each, @roamhq/wrtc links over loopback). Node devices link by the plan: to the dashboard and to the devices of the',
    'early-exit tiers next to theirs, not to every device. Devices join one after another (each profiles itself alone).',
    '',
    '| measure | value |',
    '| --- | ---: |',
    `| every device serving (models verified, loaded, profiled) | ${result.servingSeconds.toFixed(1)} s |`,
    `| the room planned with all ${DEVICES} | ${result.plannedSeconds.toFixed(1)} s |`,
    `| device process RSS | ${result.processRssMiB ?? '—'} MiB (${result.perDeviceMiB ?? '—'} MiB per device) |`,
    `| dashboard's open links | ${openLinks} |`,
    `| early-exit tiers | ${result.tiers.map((t) => `${t.tier} ${t.members}`).join(', ')} |`,
    `| ensemble: answered / degraded / not the reference | ${result.ensemble.answered} / ${result.ensemble.degraded} / ${result.ensemble.notReference} of ${SAMPLES} |`,
    `| ensemble: requests/s, p50, p95 (${WINDOW} in flight) | ${result.ensemble.requestsPerSecond.toFixed(1)}, ${ms(result.ensemble.latency.p50Ms)} ms, ${ms(result.ensemble.latency.p95Ms)} ms |`,
    `| early exit: answered / degraded / not the reference | ${result.earlyExit.answered} / ${result.earlyExit.degraded} / ${result.earlyExit.notReference} of ${SAMPLES} |`,
    `| early exit: p50, p95 | ${ms(result.earlyExit.latency.p50Ms)} ms, ${ms(result.earlyExit.latency.p95Ms)} ms |`,
    `| early exit, every sample to the cloud (edge → cloud hops between Node devices): answered / degraded / not the reference | ${result.earlyExitToCloud.answered} / ${result.earlyExitToCloud.degraded} / ${result.earlyExitToCloud.notReference} of ${SAMPLES} |`,
    `| early exit to the cloud: p50, p95 | ${ms(result.earlyExitToCloud.latency.p50Ms)} ms, ${ms(result.earlyExitToCloud.latency.p95Ms)} ms |`,
    '',
    'What this cannot show: every device shares the same two cores, so the join time is mostly profiling',
    'one device after another, and requests/s is bounded by the machine, not the room.',
    'Browsers are not in this room: a full mesh of browser tabs is what [classroom-scale] replaces.',
    '',
  ].join('\n')
  writeFileSync(join(args.out ?? 'bench/results', `scale-${date}.md`), report)
  writeFileSync(
    join(args.out ?? 'bench/results', `scale-${date}.json`),
    `${JSON.stringify(result, null, 2)}\n`,
  )
  console.log(report)
} finally {
  await browser.close()
  await server.stop()
}
