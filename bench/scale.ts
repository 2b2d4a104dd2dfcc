/**
 * `npm run bench:scale -- --pages 8 --phones 3 --processes 4,8,10,10,10`: a classroom of browser
 * pages (some with a phone's viewport) and Node device processes joins one dashboard at once.
 * Measures the time from the first join to everyone ready, to the first plan and to the plan of
 * everyone; links per device; memory per page and per Node device; and an ensemble stream at 8 in
 * flight without and with churn (10% leave, 10% join), each sample checked against the offline
 * reference; then early exit at the calibrated thresholds. Writes bench/results/scale-<date>.md
 * (and .json). A benchmark, not a test.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { chromium, type Page } from '@playwright/test'
import { CHROMIUM_PATH, chromiumArgs } from '../e2e/browsers.ts'
import { formClassroom, hostOpenLinks, plannedLinkCount, tiersOf } from '../e2e/classroom.ts'
import { exitTable, expectAt } from '../e2e/early-exit-reference.ts'
import { ensembleReference, loadManifest } from '../e2e/ensemble-reference.ts'
import {
  joinAsDevice,
  runningNodeDevices,
  runSamples,
  startCohortServer,
  startNodeDevices,
  waitForEnsembleOf,
} from '../e2e/harness.ts'
import type { PageApi, SampleOutcome } from '../e2e/page-api.ts'
import { type LatencySummary, summarize } from './stats.ts'

const { values: args } = parseArgs({
  options: {
    pages: { type: 'string', default: '8' },
    phones: { type: 'string', default: '3' },
    processes: { type: 'string', default: '4,8,10,10,10' },
    samples: { type: 'string', default: '300' },
    task: { type: 'string', default: 'fashion' },
    out: { type: 'string', default: 'bench/results' },
  },
})
const PAGES = Number(args.pages)
const PHONES = Math.min(PAGES, Number(args.phones))
const PROCESSES = (args.processes ?? '')
  .split(',')
  .map(Number)
  .filter((n) => n > 0)
const DEVICES = PAGES + PROCESSES.reduce((sum, n) => sum + n, 0)
const SAMPLES = Number(args.samples)
const TASK = args.task ?? 'fashion'
const WINDOW = 8
/** The churn stream runs long enough (the whole sample set) to span the newcomers' joining. */
const CHURN_SAMPLES = 1_000

const log = (message: string) =>
  console.error(`[scale ${new Date().toISOString().slice(11, 19)}] ${message}`)

type HostWindow = { cohort: Pick<PageApi, 'host'> }

/** Requests/s, latency and how many answers were lost, degraded or not the reference. */
interface StreamResult {
  readonly answered: number
  readonly lost: number
  readonly degraded: number
  readonly notReference: number
  readonly requestsPerSecond: number
  readonly latency: LatencySummary
}

/**
 * Memory of one page, worker included, by the browser's own measure (the page is cross-origin
 * isolated); its main-thread JS heap when the browser will not say.
 */
async function pageMemoryMiB(page: Page): Promise<{ mib: number; how: string }> {
  const measured = await page.evaluate(async () => {
    const measure = (
      performance as { measureUserAgentSpecificMemory?: () => Promise<{ bytes: number }> }
    ).measureUserAgentSpecificMemory
    if (!crossOriginIsolated || !measure) return null
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000))
    return Promise.race([measure.call(performance).then((m) => m.bytes), timeout])
  })
  if (measured !== null) return { mib: measured / 2 ** 20, how: 'measureUserAgentSpecificMemory' }
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Performance.enable')
  const { metrics } = await cdp.send('Performance.getMetrics')
  const heap = metrics.find((metric) => metric.name === 'JSHeapUsedSize')?.value ?? Number.NaN
  return { mib: heap / 2 ** 20, how: 'main-thread JS heap (CDP)' }
}

const server = await startCohortServer({
  // Every member connects from 127.0.0.1, as a class behind one NAT address would.
  args: ['--limits', JSON.stringify({ perAddress: { burst: 50_000, perSecond: 10_000 } })],
})
const browser = await chromium.launch({
  executablePath: CHROMIUM_PATH,
  args: chromiumArgs,
})
try {
  const manifest = loadManifest(TASK)
  const references = new Map<number, number[]>()
  const check = async (outcomes: readonly SampleOutcome[], seconds: number) => {
    let notReference = 0
    for (const o of outcomes) {
      if (o.error !== null || o.degraded) continue
      const k = o.k ?? 0
      if (!references.has(k)) references.set(k, await ensembleReference(manifest, k, CHURN_SAMPLES))
      if (o.prediction !== references.get(k)?.[o.index]) notReference++
    }
    const answered = outcomes.filter((o) => o.error === null)
    return {
      answered: answered.length,
      lost: outcomes.length - answered.length,
      degraded: outcomes.filter((o) => o.degraded).length,
      notReference,
      requestsPerSecond: outcomes.length / seconds,
      latency: summarize(answered.map((o) => o.latencyMs)),
    } satisfies StreamResult
  }

  log(
    `${DEVICES} devices joining: ${PAGES} pages (${PHONES} phones), Node processes ${PROCESSES.join('+')}`,
  )
  const room = await formClassroom(browser, server, {
    task: TASK,
    pages: PAGES,
    phones: PHONES,
    nodeProcesses: PROCESSES,
  })
  const { host } = room
  log(
    `ready ${room.timeline.readyMs} ms, planned ${room.timeline.plannedMs} ms, models held ${room.timeline.modelsMs} ms, linked ${room.timeline.linkedMs} ms`,
  )
  const tiers = (await tiersOf(host.page))?.tiers ?? []
  const links = plannedLinkCount(DEVICES, tiers)
  const hostLinks = await hostOpenLinks(host.page)
  const nodeMemory = room.nodes.flatMap((node) => {
    const line = [...node.log.join('').matchAll(/RSS ([\d.]+) MiB, ([\d.]+) MiB per device/g)].at(
      -1,
    )
    return line ? [Number(line[2])] : []
  })
  // At once: the browser's measure waits for a garbage collection of its own.
  const pageMemory = await Promise.all(room.pages.map((page) => pageMemoryMiB(page.page)))

  log(`ensemble: ${SAMPLES} samples, ${WINDOW} in flight, no churn`)
  let t0 = performance.now()
  const steady = await check(
    await runSamples(host.page, SAMPLES, { window: WINDOW }),
    (performance.now() - t0) / 1000,
  )

  log('early exit at the calibrated thresholds')
  const expected = expectAt(
    manifest,
    await exitTable(manifest, SAMPLES),
    manifest.earlyExit.thresholds,
    SAMPLES,
  )
  t0 = performance.now()
  const early = await host.page.evaluate(
    (options) => (window as unknown as HostWindow).cohort.host.runEarlyExit(options),
    { samples: SAMPLES, deadlineMs: 5_000 },
  )
  const earlySeconds = (performance.now() - t0) / 1000
  const earlyAnswered = early.filter((o) => o.error === null)
  const earlyWrong = early.filter(
    (o) =>
      o.error !== null ||
      o.exitIndex !== expected.exits[o.index] ||
      o.prediction !== expected.predictions[o.index],
  ).length

  log(`ensemble: ${CHURN_SAMPLES} samples, ${WINDOW} in flight, while 10% leave and 10% join`)
  const leavingPage = room.pages.at(-1)
  const leavingNodes = room.nodes[0]
  // The newcomers start joining, the stream starts, and then the leavers go: joins, departures
  // and the replans they cause all fall within the stream.
  const joining = Promise.all([
    joinAsDevice(browser, room.joinUrl),
    startNodeDevices(room.joinUrl, ['--devices', String(PROCESSES[0] ?? 1)]),
  ])
  t0 = performance.now()
  const stream = runSamples(host.page, CHURN_SAMPLES, { window: WINDOW })
  await leavingPage?.context.close()
  await leavingNodes?.stop('SIGKILL')
  const [newPage, newNodes] = await joining
  const joinedAtS = (performance.now() - t0) / 1000
  const churnOutcomes = await stream
  const churnSeconds = (performance.now() - t0) / 1000
  const churn = await check(churnOutcomes, churnSeconds)
  const after = [
    ...room.ids.filter((id) => id !== leavingPage?.deviceId && !leavingNodes?.ids.includes(id)),
    newPage.deviceId,
    ...newNodes.ids,
  ]
  t0 = performance.now()
  await waitForEnsembleOf(host.page, after)
  const replannedAfterChurnMs = performance.now() - t0

  const result = {
    date: new Date().toISOString(),
    devices: DEVICES,
    pages: PAGES,
    phones: PHONES,
    nodeProcesses: PROCESSES,
    samples: SAMPLES,
    timeline: room.timeline,
    links,
    linksPerDevice: links / DEVICES,
    hostOpenLinks: hostLinks,
    tiers: tiers.map((tier) => ({ tier: tier.tier, members: tier.members.length })),
    memory: {
      nodeMiBPerDevice: nodeMemory,
      pageMiB: pageMemory.map((m) => m.mib),
      pageMeasure: pageMemory[0]?.how ?? null,
    },
    ensemble: { steady, churn },
    replannedAfterChurnMs,
    earlyExit: {
      answered: earlyAnswered.length,
      notReference: earlyWrong,
      requestsPerSecond: SAMPLES / earlySeconds,
      latency: summarize(earlyAnswered.map((o) => o.latencyMs)),
    },
  }

  const date = result.date.slice(0, 10)
  const s = (ms: number) => (ms / 1000).toFixed(1)
  const ms = (n: number) => n.toFixed(2)
  const range = (values: readonly number[]) =>
    values.length === 0
      ? '—'
      : `${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)}`
  const row = (name: string, r: StreamResult) =>
    `| ${name} | ${r.requestsPerSecond.toFixed(1)} | ${ms(r.latency.p50Ms)} | ${ms(r.latency.p95Ms)} | ${r.lost} | ${r.degraded} | ${r.notReference} |`
  const report = [
    `# Scale: a classroom of ${DEVICES} (${date})`,
    '',
    `\`npm run bench:scale -- --pages ${PAGES} --phones ${PHONES} --processes ${PROCESSES.join(',')} --samples ${SAMPLES}\` on this machine`,
    `(2 shared cores, no GPU). One headless Chromium dashboard; ${PAGES} device pages in the same Chromium (${PHONES} with Playwright's`,
    `Pixel 7 descriptor: viewport, touch, user agent; one WASM thread each); ${DEVICES - PAGES} Node devices in ${PROCESSES.length} processes`,
    `(${PROCESSES.join(', ')}; onnxruntime-node, 1 thread; @roamhq/wrtc links over loopback). All join at once. Devices are not`,
    "slowed: every one of them computes on the same two cores, so times are the machine's, not a classroom's.",
    '',
    '| from the first join | s |',
    '| --- | ---: |',
    `| every device ready (pages: models loaded and profiled; Node: serving) | ${s(result.timeline.readyMs)} |`,
    `| the first plan with a device | ${s(result.timeline.firstPlanMs)} |`,
    `| the plan of all ${DEVICES} | ${s(result.timeline.plannedMs)} (${result.timeline.planVersions} plan versions on the way) |`,
    `| every Node device holding the models that plan assigns it | ${s(result.timeline.modelsMs)} |`,
    `| the dashboard linked to every device (requests go out at once) | ${s(result.timeline.linkedMs)} |`,
    `| after the churn below: the plan of the ${DEVICES} present | ${replannedAfterChurnMs < 1_000 ? 'already in force when the stream ended' : `${s(replannedAfterChurnMs)} after the stream ended`} |`,
    '',
    `Links: ${links} for ${DEVICES} devices, **${result.linksPerDevice.toFixed(2)} per device** (the dashboard holds ${hostLinks} open;`,
    `tiers ${result.tiers.map((t) => `${t.tier} ${t.members}`).join(', ')}, each member linked to the next tier's first 3); a full mesh would hold ${((DEVICES + 1) * DEVICES) / 2}.`,
    '',
    `Memory: Node devices ${range(nodeMemory)} MiB each (process RSS growth / devices, per process); browser pages`,
    `${range(result.memory.pageMiB)} MiB each (${result.memory.pageMeasure ?? '—'}).`,
    '',
    `Ensemble, ${SAMPLES} samples at ${WINDOW} in flight (lost = typed error; not reference = answered, not degraded, but not the offline answer):`,
    '',
    '| stream | req/s | p50 ms | p95 ms | lost | degraded | not reference |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    row('no churn', steady),
    row(
      `churn (${CHURN_SAMPLES} samples): a page closed, a process of ${PROCESSES[0]} killed, as many joining (all serving ${joinedAtS.toFixed(1)} s into the ${churnSeconds.toFixed(1)} s stream)`,
      churn,
    ),
    '',
    `Early exit at the calibrated thresholds, ${SAMPLES} samples one at a time: ${result.earlyExit.answered} answered, ${earlyWrong} not the reference,`,
    `${result.earlyExit.requestsPerSecond.toFixed(1)} req/s, p50 ${ms(result.earlyExit.latency.p50Ms)} ms, p95 ${ms(result.earlyExit.latency.p95Ms)} ms.`,
    '',
    "What this cannot show: a real classroom's devices each bring their own cores and radio. Here 50 devices",
    'share 2 cores, so joining is bounded by the total work of loading and profiling, and requests/s by the machine;',
    'links are loopback (no Wi-Fi loss or latency).',
    '',
  ].join('\n')
  writeFileSync(join(args.out ?? 'bench/results', `scale-${date}.md`), report)
  writeFileSync(
    join(args.out ?? 'bench/results', `scale-${date}.json`),
    `${JSON.stringify(result, null, 2)}\n`,
  )
  console.log(report)
} finally {
  // However the run ended, no device process outlives it (they would load the next run's cores).
  for (const node of runningNodeDevices()) await node.stop('SIGKILL')
  await browser.close()
  await server.stop()
}
