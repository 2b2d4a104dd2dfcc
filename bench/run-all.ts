/**
 * `npm run bench`: every scenario in one run on this machine, with the floors measured in the
 * same run, written to bench/results/<date>.json, a Markdown report next to it and its charts
 * as SVG files in bench/results/<date>/.
 *
 * Order: the planner, the mesh and the runtime micro-benchmarks (each in a room of its own),
 * then one room of N devices: floors, every mode without failures, every mode with one member
 * per group and tier slowed down, every mode with devices closed mid-run, the ensemble and early
 * exit with devices frozen mid-run (closed or frozen devices are replaced by new ones and the
 * room re-planned before the next scenario), and last the ensemble with each K pinned.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { chromium } from '@playwright/test'
import { CHROMIUM_PATH, chromiumArgs } from '../e2e/browsers.ts'
import { exitTable, thresholdsForShares } from '../e2e/early-exit-reference.ts'
import { loadManifest } from '../e2e/ensemble-reference.ts'
import { startCohortServer } from '../e2e/harness.ts'
import { buildCharts, renderSvg } from './charts.ts'
import { measureEngines } from './engines.ts'
import { machineFacts } from './machine.ts'
import { measureMesh } from './mesh.ts'
import { measurePlanner } from './planner.ts'
import { renderMarkdown } from './report-markdown.ts'
import type { BenchReport, EngineResult, MeshResult, RuntimeResult } from './report-types.ts'
import { Room } from './room.ts'
import { runRoomScenarios } from './room-scenarios.ts'
import { measureRuntime } from './runtime.ts'

const HELP = `npm run bench -- [options]
  --task <name>       task of public/models (default fashion)
  --devices <n>       device pages besides the dashboard (default 6: fits 2 cores)
  --samples <n>       test samples per scenario, and runs per floor (default 300)
  --threads <n>       WASM threads per page (default 1: seven pages share two cores)
  --slowdown <f>      how many times slower the stragglers' runs are (default 6)
  --no-micro          skip the mesh and runtime micro-benchmarks
  --out <dir>         where results go (default bench/results)`

const { values: args } = parseArgs({
  options: {
    task: { type: 'string', default: 'fashion' },
    devices: { type: 'string', default: '6' },
    samples: { type: 'string', default: '300' },
    threads: { type: 'string', default: '1' },
    slowdown: { type: 'string', default: '6' },
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
const SLOWDOWN = positive('slowdown', args.slowdown, 2)
const DEADLINE_MS = 5_000

const log = (message: string) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`)

async function main(): Promise<void> {
  const started = performance.now()
  const manifest = loadManifest(TASK)
  const table = await exitTable(manifest, SAMPLES)
  const mixedThresholds = thresholdsForShares(table, [0.4, 0.3], SAMPLES)
  const server = await startCohortServer()
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: chromiumArgs,
  })
  try {
    const machine = machineFacts(browser.version())
    log('planner')
    const planner = measurePlanner()
    let mesh: MeshResult | null = null
    let runtime: RuntimeResult[] = []
    let engines: EngineResult[] = []
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
      engines =
        (await attempt('engines (onnxruntime-node vs onnxruntime-web WASM)', () =>
          measureEngines({ task: TASK, runs: SAMPLES }),
        )) ?? []
    }

    log(`room: ${DEVICES} devices on ${TASK}`)
    const room = await Room.open(browser, server, {
      task: TASK,
      threads: THREADS,
      devices: DEVICES,
    })
    await room.waitPlanned()
    const measured = await runRoomScenarios(room, {
      manifest,
      samples: SAMPLES,
      deadlineMs: DEADLINE_MS,
      slowdown: SLOWDOWN,
      mixedThresholds,
      log,
    })

    const report: BenchReport = {
      date: new Date().toISOString(),
      durationS: (performance.now() - started) / 1000,
      machine,
      config: {
        task: TASK,
        devices: DEVICES,
        samples: SAMPLES,
        threads: THREADS,
        slowdown: SLOWDOWN,
        deadlineMs: DEADLINE_MS,
      },
      emulation:
        `The dashboard (the requester) and ${DEVICES} devices are pages of one headless Chromium ${machine.chromium}, ` +
        'each in a browser context of its own (own storage, socket.io connection, WebRTC peer connections and ' +
        `onnxruntime-web worker with ${THREADS} WASM thread(s)), connected over loopback ICE, all sharing this machine's ${machine.cores} cores. ` +
        `Stragglers: the runtime of the best member of every ensemble group and early-exit tier slowed ${SLOWDOWN}× (each run computes, then waits ${SLOWDOWN} − 1 times its compute) ` +
        '(single teacher and cloud-only then run on a slowed device). Failures: the browser context of a device closed after a quarter ' +
        'of the requests (ensemble: the best member of every group; early exit: the best member of every tier; single teacher and cloud-only: ' +
        'their device); new devices replace the closed ones before the next scenario. Frozen: the same victims (ensemble and calibrated early exit only) ' +
        'paused in the debugger after a quarter of the requests, their sockets and channels left open, then closed and replaced after the scenario.',
      room: measured.room,
      thresholds: { calibrated: manifest.earlyExit.thresholds, mixed: mixedThresholds },
      floors: measured.floors,
      scenarios: measured.scenarios,
      byK: measured.byK,
      byWindow: measured.byWindow,
      micro: { mesh, runtime, engines, planner, failures: microFailures },
    }
    await write(report, args.out)
  } finally {
    await browser.close()
    await server.stop()
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
