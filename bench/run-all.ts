/**
 * `npm run bench`: every scenario in one run on this machine, with the floors measured in the
 * same run, written to bench/results/<date>.json, a Markdown report next to it and its charts
 * as SVG files in bench/results/<date>/.
 *
 * Order: the planner, the mesh and the runtime micro-benchmarks (each in a room of its own),
 * then one room of N devices: floors, every mode without failures, every mode with one member
 * per group and tier throttled, then every mode with devices closed mid-run (closed devices
 * are replaced by new ones and the room re-planned before the next scenario).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Manifest } from '@cohort/protocol'
import { chromium, type Page } from '@playwright/test'
import { exitTable, thresholdsForShares } from '../e2e/early-exit-reference.ts'
import { loadManifest } from '../e2e/ensemble-reference.ts'
import { startCohortServer } from '../e2e/harness.ts'
import { chromiumArgs } from '../playwright.config.ts'
import { buildCharts, renderSvg } from './charts.ts'
import {
  modelTimings,
  type RequestOutcome,
  runCloudOnly,
  runEarlyExit,
  runEnsemble,
  runSingle,
  waitForDone,
} from './dashboard-calls.ts'
import { machineFacts } from './machine.ts'
import { measureMesh } from './mesh.ts'
import { measurePlanner } from './planner.ts'
import { connectRaw, meshPing, rawPing, startRawReceiver } from './raw-channel.ts'
import { renderMarkdown } from './report-markdown.ts'
import type {
  BenchReport,
  Condition,
  Floors,
  MeshResult,
  Mode,
  RuntimeResult,
  ScenarioResult,
} from './report-types.ts'
import { type PlanView, Room } from './room.ts'
import { measureRuntime } from './runtime.ts'
import { summarizeScenario } from './scenario-summary.ts'
import { quantile, summarize } from './stats.ts'

const HELP = `npm run bench -- [options]
  --task <name>       task of public/models (default fashion)
  --devices <n>       device pages besides the dashboard (default 6: fits 2 cores)
  --samples <n>       test samples per scenario, and runs per floor (default 300)
  --threads <n>       WASM threads per page (default 1: seven pages share two cores)
  --throttle <rate>   CPU slow-down of the stragglers (default 6)
  --no-micro          skip the mesh and runtime micro-benchmarks
  --out <dir>         where results go (default bench/results)`

const { values: args } = parseArgs({
  options: {
    task: { type: 'string', default: 'fashion' },
    devices: { type: 'string', default: '6' },
    samples: { type: 'string', default: '300' },
    threads: { type: 'string', default: '1' },
    throttle: { type: 'string', default: '6' },
    'no-micro': { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(HELP)
  process.exit(0)
}
function positive(name: string, value: string, min: number): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer >= ${min}, not ${value}\n\n${HELP}`)
    process.exit(2)
  }
  return n
}
const TASK = args.task
const DEVICES = positive('devices', args.devices, 4)
const SAMPLES = positive('samples', args.samples, 20)
const THREADS = positive('threads', args.threads, 1)
const THROTTLE = positive('throttle', args.throttle, 2)
const DEADLINE_MS = 5_000
const WARM_UP = 20
/** Heartbeats keep flowing while nothing is asked: their rate is measured over this window. */
const IDLE_WINDOW_MS = 4_000

const log = (message: string) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`)

async function main(): Promise<void> {
  const started = performance.now()
  const manifest = loadManifest(TASK)
  const table = await exitTable(manifest, SAMPLES)
  const mixedThresholds = thresholdsForShares(table, [0.4, 0.3], SAMPLES)
  const server = await startCohortServer()
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: chromiumArgs,
  })
  try {
    const machine = machineFacts(browser.version())
    log('planner')
    const planner = measurePlanner()
    let mesh: MeshResult | null = null
    let runtime: RuntimeResult[] = []
    // A micro-benchmark that fails is reported as failed; the scenarios still run.
    const microFailures: string[] = []
    const attempt = async <T>(name: string, measure: () => Promise<T>): Promise<T | null> => {
      log(name)
      try {
        return await measure()
      } catch (error) {
        const message = `${name}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`
        log(`failed: ${message}`)
        microFailures.push(message)
        return null
      }
    }
    if (!args['no-micro']) {
      mesh = await attempt('mesh vs raw channel', () =>
        measureMesh(browser, server, { pings: SAMPLES, bulkMiB: 64, rounds: 3 }),
      )
      runtime =
        (await attempt('runtime', () =>
          measureRuntime(browser, server, { task: TASK, runs: SAMPLES, threadSets: ['auto', '1'] }),
        )) ?? []
    }

    log(`room: ${DEVICES} devices on ${TASK}`)
    const room = await Room.open(browser, server, {
      task: TASK,
      threads: THREADS,
      devices: DEVICES,
    })
    const firstPlan = await room.waitPlanned()
    const host = room.host.page
    const ensemble = firstPlan.ensemble
    const tiers = firstPlan.earlyExit?.tiers ?? []
    if (!ensemble) throw new Error('no ensemble plan')
    log(
      `plan v${firstPlan.version}: K=${ensemble.k}, groups ${ensemble.groups.map((g) => g.members.length).join('+')}, tiers ${tiers.map((t) => `${t.tier} ${t.members.length}`).join(', ')}`,
    )
    const cloudOf = (plan: PlanView) => plan.earlyExit?.tiers.at(-1)?.members[0] ?? ''

    // Warm-up: every session, link and tier has run before anything is timed.
    await runEnsemble(host, { samples: WARM_UP, redundancy: 'all', deadlineMs: DEADLINE_MS })
    await runEarlyExit(host, { samples: WARM_UP, deadlineMs: DEADLINE_MS, thresholds: [2, 2] })
    await runSingle(host, {
      samples: WARM_UP,
      deviceId: cloudOf(firstPlan),
      deadlineMs: DEADLINE_MS,
    })
    await runCloudOnly(host, {
      samples: WARM_UP,
      deviceId: cloudOf(firstPlan),
      deadlineMs: DEADLINE_MS,
    })

    log('floors')
    const peer = room.member(cloudOf(firstPlan))
    await connectRaw(host, peer.page)
    await startRawReceiver(peer.page, Number.MAX_SAFE_INTEGER)
    const idleBytes = await room.bytesSent()
    const idleStarted = performance.now()
    await host.waitForTimeout(IDLE_WINDOW_MS) // a measuring window of idle links, not a synchronisation
    const heartbeatBytesPerMs =
      ((await room.bytesSent()) - idleBytes) / (performance.now() - idleStarted)
    const floors = await measureFloors(host, peer.deviceId, firstPlan, manifest)

    const scenarios: ScenarioResult[] = []
    /** Runs one scenario and keeps its row; bytes are counted only when no page closed meanwhile. */
    const scenario = async (
      mode: Mode,
      condition: Condition,
      run: () => Promise<{ outcomes: RequestOutcome[]; failure?: ScenarioResult['failure'] }>,
      throttled?: ScenarioResult['throttled'],
    ) => {
      const bytesBefore = await room.bytesSent()
      const t0 = performance.now()
      const { outcomes, failure } = await run()
      const wireBytes =
        condition === 'failure'
          ? null
          : Math.max(
              0,
              (await room.bytesSent()) -
                bytesBefore -
                heartbeatBytesPerMs * (performance.now() - t0),
            )
      const row = summarizeScenario({
        mode,
        condition,
        outcomes,
        wireBytes,
        exits: mode.startsWith('early-exit') ? manifest.earlyExit.segments.length : null,
        cloudOnlyCost: manifest.earlyExit.cost.cloudOnly,
        ...(failure ? { failure } : {}),
        ...(throttled ? { throttled } : {}),
      })
      scenarios.push(row)
      log(
        `${mode} / ${condition}: p50 ${row.latency.p50Ms.toFixed(2)} ms, p95 ${row.latency.p95Ms.toFixed(2)} ms, ${row.answered}/${row.requests} answered, ${row.degraded} degraded, ${row.lost} lost, accuracy ${row.accuracy.toFixed(2)}%`,
      )
    }
    const plain = (outcomes: Promise<RequestOutcome[]>) => outcomes.then((o) => ({ outcomes: o }))
    const every = (
      condition: Condition,
      plan: PlanView,
      throttled?: ScenarioResult['throttled'],
    ) => [
      () =>
        scenario(
          'single',
          condition,
          () =>
            plain(
              runSingle(host, {
                samples: SAMPLES,
                deviceId: cloudOf(plan),
                deadlineMs: DEADLINE_MS,
              }),
            ),
          throttled,
        ),
      () =>
        scenario(
          'ensemble-all',
          condition,
          () =>
            plain(
              runEnsemble(host, { samples: SAMPLES, redundancy: 'all', deadlineMs: DEADLINE_MS }),
            ),
          throttled,
        ),
      () =>
        scenario(
          'ensemble-hedged',
          condition,
          () =>
            plain(
              runEnsemble(host, {
                samples: SAMPLES,
                redundancy: 'hedged',
                deadlineMs: DEADLINE_MS,
              }),
            ),
          throttled,
        ),
      () =>
        scenario(
          'early-exit',
          condition,
          () => plain(runEarlyExit(host, { samples: SAMPLES, deadlineMs: DEADLINE_MS })),
          throttled,
        ),
      () =>
        scenario(
          'early-exit-mixed',
          condition,
          () =>
            plain(
              runEarlyExit(host, {
                samples: SAMPLES,
                deadlineMs: DEADLINE_MS,
                thresholds: mixedThresholds,
              }),
            ),
          throttled,
        ),
      () =>
        scenario(
          'cloud-only',
          condition,
          () =>
            plain(
              runCloudOnly(host, {
                samples: SAMPLES,
                deviceId: cloudOf(plan),
                deadlineMs: DEADLINE_MS,
              }),
            ),
          throttled,
        ),
    ]

    log('without failures')
    for (const run of every('normal', firstPlan)) await run()

    // Stragglers: the best member of every group and tier (the one asked first) is slowed down.
    const slowed = [
      ...new Set([
        ...ensemble.groups.map((g) => g.members[0] ?? ''),
        ...tiers.map((t) => t.members[0] ?? ''),
      ]),
    ].filter((id) => id !== '')
    log(`throttled ${THROTTLE}x: ${slowed.join(', ')}`)
    for (const id of slowed) await room.throttle(id, THROTTLE)
    for (const run of every('throttled', firstPlan, { devices: slowed, rate: THROTTLE }))
      await run()
    for (const id of slowed) await room.throttle(id, 1)

    log('with failures')
    const closeAfter = Math.floor(SAMPLES / 4)
    /** Closes `victims` once `run` has answered a quarter of its requests. */
    const midRun = async (
      outcomes: Promise<RequestOutcome[]>,
      progress: 'ensemble' | 'early-exit',
      victims: string[],
    ) => {
      const afterRequests = await waitForDone(host, progress, closeAfter)
      for (const id of victims) await room.close(id)
      return { outcomes: await outcomes, failure: { closed: victims, afterRequests } }
    }
    /** The single-device baselines have no progress to watch: a quarter, the close, the rest. */
    const splitRun = async (
      call: (samples: number) => Promise<RequestOutcome[]>,
      victim: string,
    ) => {
      const first = await call(closeAfter)
      await room.close(victim)
      const rest = await call(SAMPLES - closeAfter)
      return {
        outcomes: [...first, ...rest],
        failure: { closed: [victim], afterRequests: closeAfter },
      }
    }
    const failures: ((plan: PlanView) => Promise<void>)[] = [
      (plan) =>
        scenario('single', 'failure', () =>
          splitRun(
            (samples) =>
              runSingle(host, { samples, deviceId: cloudOf(plan), deadlineMs: DEADLINE_MS }),
            cloudOf(plan),
          ),
        ),
      ...(['all', 'hedged'] as const).map(
        (redundancy) => (plan: PlanView) =>
          scenario(`ensemble-${redundancy}`, 'failure', () =>
            midRun(
              runEnsemble(host, { samples: SAMPLES, redundancy, deadlineMs: DEADLINE_MS }),
              'ensemble',
              plan.ensemble?.groups.map((g) => g.members[0] ?? '') ?? [],
            ),
          ),
      ),
      ...([undefined, mixedThresholds] as const).map(
        (thresholds) => (plan: PlanView) =>
          scenario(thresholds ? 'early-exit-mixed' : 'early-exit', 'failure', () =>
            midRun(
              runEarlyExit(host, {
                samples: SAMPLES,
                deadlineMs: DEADLINE_MS,
                ...(thresholds ? { thresholds } : {}),
              }),
              'early-exit',
              plan.earlyExit?.tiers.map((t) => t.members[0] ?? '') ?? [],
            ),
          ),
      ),
      (plan) =>
        scenario('cloud-only', 'failure', () =>
          splitRun(
            (samples) =>
              runCloudOnly(host, { samples, deviceId: cloudOf(plan), deadlineMs: DEADLINE_MS }),
            cloudOf(plan),
          ),
        ),
    ]
    for (const [index, failure] of failures.entries()) {
      if (index > 0) {
        // New devices take the closed ones' places, and the room is planned again.
        await room.addDevices(DEVICES - room.devices.size)
        await room.waitPlanned()
      }
      await failure(await room.plan())
    }

    const report: BenchReport = {
      date: new Date().toISOString(),
      durationS: (performance.now() - started) / 1000,
      machine,
      config: {
        task: TASK,
        devices: DEVICES,
        samples: SAMPLES,
        threads: THREADS,
        throttleRate: THROTTLE,
        deadlineMs: DEADLINE_MS,
      },
      emulation:
        `The dashboard (the requester) and ${DEVICES} devices are pages of one headless Chromium ${machine.chromium}, ` +
        'each in a browser context of its own (own storage, socket.io connection, WebRTC peer connections and ' +
        `onnxruntime-web worker with ${THREADS} WASM thread(s)), connected over loopback ICE, all sharing this machine's ${machine.cores} cores. ` +
        `Stragglers: DevTools \`Emulation.setCPUThrottlingRate\` ${THROTTLE}× on the best member of every ensemble group and early-exit tier ` +
        '(single teacher and cloud-only then run on a throttled device). Failures: the browser context of a device closed after a quarter ' +
        'of the requests (ensemble: the best member of every group; early exit: the best member of every tier; single teacher and cloud-only: ' +
        'their device); new devices replace the closed ones before the next scenario.',
      room: {
        planVersion: firstPlan.version,
        k: ensemble.k,
        groups: ensemble.groups.map((g) => g.members),
        tiers: tiers.map((t) => ({ tier: t.tier, members: t.members })),
      },
      thresholds: { calibrated: manifest.earlyExit.thresholds, mixed: mixedThresholds },
      floors,
      scenarios,
      micro: { mesh, runtime, planner, failures: microFailures },
    }
    await write(report, args.out)
  } finally {
    await browser.close()
    await server.stop()
  }
}

/** Floors on the dashboard page and its link to `peer`, for the plan's models. */
async function measureFloors(
  page: Page,
  peerId: string,
  plan: PlanView,
  manifest: Manifest,
): Promise<Floors> {
  const raw = await rawPing(page, SAMPLES)
  const echo = await meshPing(page, peerId, SAMPLES)
  const timings = await modelTimings(page, SAMPLES)
  const p50 = (id: string) => quantile(timings[id] ?? [], 0.5)
  const set = manifest.ensembles.find((e) => e.k === plan.ensemble?.k)
  const rawMs = quantile(raw, 0.5)
  const segments = manifest.earlyExit.segments
  return {
    rawPing: summarize(raw),
    meshPing: summarize(echo),
    models: Object.fromEntries(Object.entries(timings).map(([id, ms]) => [id, summarize(ms)])),
    singleMs: p50(manifest.teacher.model) + rawMs,
    ensembleMs: Math.max(...(set?.students ?? []).map(p50)) + rawMs + p50(set?.combiner ?? ''),
    earlyExitMs: p50(segments[0] ?? ''),
    cloudOnlyMs: segments.reduce((sum, id) => sum + p50(id), 0) + rawMs,
  }
}

/** Writes the JSON, the charts and the Markdown of `report` into `dir`. */
async function write(report: BenchReport, dir: string): Promise<void> {
  const date = report.date.slice(0, 10)
  const chartDir = join(dir, date)
  mkdirSync(chartDir, { recursive: true })
  writeFileSync(join(dir, `${date}.json`), `${JSON.stringify(report, null, 2)}\n`)
  const charts = buildCharts(report)
  for (const chart of charts)
    writeFileSync(join(chartDir, `${chart.name}.svg`), await renderSvg(chart.spec))
  const markdown = renderMarkdown(
    report,
    charts.map((chart) => ({ file: `${date}/${chart.name}.svg`, title: chart.title })),
  )
  writeFileSync(join(dir, `${date}.md`), markdown)
  console.log(markdown)
  log(
    `wrote ${join(dir, `${date}.json`)}, ${join(dir, `${date}.md`)} and ${charts.length} charts in ${chartDir}`,
  )
}

await main()
