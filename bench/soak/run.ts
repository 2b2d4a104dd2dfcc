/**
 * `npm run soak -- --minutes 30`: a room under churn for a long time. Devices join, leave, close
 * and freeze every few seconds while the dashboard streams requests through the ensemble (all
 * members and hedged, alternately); every minute it records the server's and the pages' memory.
 * Reports lost requests (no answer: a typed error, or none at all), degraded answers and the
 * memory slope, to bench/results/soak-<date>.md (and .json). A benchmark, not a test.
 *
 * Devices are Chromium pages in one browser (each its own context), all on this machine's two
 * cores: a freeze is the page's main thread paused in the debugger (its socket stays up, so only
 * heartbeats notice), a close is the context closed, a leave is the Leave button.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type Browser, type BrowserContext, chromium, type Page } from '@playwright/test'
import { CHROMIUM_PATH, chromiumArgs } from '../../e2e/browsers.ts'
import {
  createRoomAsHost,
  heapSnapshot,
  joinAsDevice,
  runSamples,
  startCohortServer,
  waitForModelsReady,
} from '../../e2e/harness.ts'
import { diffHeapSnapshots, heapDiffMarkdown } from './heap-diff.ts'
import { fitSlope, rssBytes, rssOfCommand } from './memory.ts'

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    'churn-seconds': { type: 'string', default: '6' },
    'min-devices': { type: 'string', default: '4' },
    'max-devices': { type: 'string', default: '7' },
    seed: { type: 'string', default: '11' },
    out: { type: 'string', default: 'bench/results' },
    // A folder: heap snapshots of the server and the dashboard at the end of the warm-up and at
    // the end of the run, for `bench/soak/heap-diff.ts` to say what a slope is made of.
    'heap-snapshots': { type: 'string' },
  },
})
const MINUTES = Number(args.minutes)
const CHURN_MS = Number(args['churn-seconds']) * 1000
const MIN_DEVICES = Number(args['min-devices'])
const MAX_DEVICES = Number(args['max-devices'])
/** Samples per run of the request stream; runs follow each other without a pause. */
const RUN_SAMPLES = 20
/** Requests of a run in flight at once. */
const WINDOW = 4
const DEADLINE_MS = 2_000
/** How long a frozen page stays frozen before it thaws or is closed. */
const FREEZE_MS = 5_000
/** Memory readings before this are the warm-up (models loading, JIT), not fitted. */
const WARM_UP_FRACTION = 0.2

const log = (message: string) =>
  console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}`)

/** A seeded generator, so two soaks churn alike. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0
    return state / 2 ** 32
  }
}

interface Device {
  readonly context: BrowserContext
  readonly page: Page
  frozen: boolean
}

interface MemoryPoint {
  readonly minute: number
  readonly serverRss: number
  readonly serverHeap: number
  /** V8's heap as reserved from the system: the part of RSS the heap accounts for. */
  readonly serverHeapTotal: number
  /** Buffers and native bindings' memory outside V8's heap. */
  readonly serverExternal: number
  readonly hostHeap: number
  readonly devicesHeapMean: number
  readonly browserRss: number
  readonly devices: number
}

const totals = { requests: 0, answered: 0, degraded: 0, failed: 0, runsFailed: 0 }
const churn = { joined: 0, left: 0, closed: 0, frozen: 0, thawed: 0 }
const errors = new Map<string, number>()

async function heapOf(page: Page): Promise<number> {
  try {
    const cdp = await page.context().newCDPSession(page)
    // The live heap, not the garbage a lazy collector has not reclaimed yet: a slope of the
    // latter says when V8 last ran a full collection, not whether the page leaks.
    await cdp.send('HeapProfiler.collectGarbage')
    // The JS heap and the embedder's (Blink's DOM, style and layout objects): a page can leak in
    // either, and the DOM's does not show in the JS heap alone.
    const { usedSize, embedderHeapUsedSize } = (await cdp.send('Runtime.getHeapUsage')) as {
      usedSize: number
      embedderHeapUsedSize?: number
    }
    await cdp.detach()
    return usedSize + (embedderHeapUsedSize ?? 0)
  } catch {
    return Number.NaN
  }
}

/** Writes a heap snapshot of `page` (after a full collection) to `path`. */
async function snapshotPage(page: Page, path: string): Promise<void> {
  writeFileSync(path, await heapSnapshot(page))
}

/**
 * Makes the server write a heap snapshot (it runs with --heapsnapshot-signal) into `dir` and
 * waits until it is written: the server writes it synchronously, so once a snapshot file exists
 * and the server answers again, the file is whole.
 */
async function snapshotServer(pid: number, url: string, dir: string): Promise<void> {
  const before = new Set(readdirSync(dir))
  process.kill(pid, 'SIGUSR2')
  const written = () =>
    readdirSync(dir).some((name) => !before.has(name) && name.endsWith('.heapsnapshot'))
  while (!written()) await new Promise((resolve) => setTimeout(resolve, 100))
  await fetch(`${url}/healthz`)
}

async function snapshotBoth(
  server: { pid: number; url: string },
  host: Page,
  dir: string,
  tag: string,
) {
  await snapshotServer(server.pid, server.url, dir)
  await snapshotPage(host, join(dir, `dashboard-${tag}.heapsnapshot`))
  log(`heap snapshots (${tag}) in ${dir}`)
}

/** The server's live heap, its heap as reserved, and memory held outside the heap (bytes). */
async function serverMemory(
  url: string,
): Promise<{ heapUsed: number; heapTotal: number; external: number }> {
  try {
    const report = (await (await fetch(`${url}/healthz`)).json()) as {
      memory?: { heapUsedBytes?: number; heapTotalBytes?: number; externalBytes?: number }
    }
    return {
      heapUsed: report.memory?.heapUsedBytes ?? Number.NaN,
      heapTotal: report.memory?.heapTotalBytes ?? Number.NaN,
      external: report.memory?.externalBytes ?? Number.NaN,
    }
  } catch {
    return { heapUsed: Number.NaN, heapTotal: Number.NaN, external: Number.NaN }
  }
}

async function main(): Promise<void> {
  const rand = random(Number(args.seed))
  // --expose-gc: the server's heap is read after a full collection, as the pages' are.
  const snapshots = args['heap-snapshots']
  if (snapshots) mkdirSync(snapshots, { recursive: true })
  const server = await startCohortServer({
    nodeArgs: [
      '--expose-gc',
      ...(snapshots ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshots}`] : []),
    ],
  })
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: chromiumArgs,
  })
  const started = Date.now()
  const until = started + MINUTES * 60_000
  const memory: MemoryPoint[] = []
  try {
    const host = await createRoomAsHost(browser, server)
    const devices: Device[] = []
    const addDevice = async () => {
      const device = await joinAsDevice(browser, host.joinUrl)
      devices.push({ context: device.context, page: device.page, frozen: false })
      churn.joined++
    }
    for (let i = 0; i < MAX_DEVICES - 1; i++) await addDevice()
    // Requests start once every first device is ready and the room has a plan made from them.
    for (const device of devices) await waitForModelsReady(device.page)
    await host.page.waitForFunction(
      (count) => {
        type Handle = { cohort?: { mesh?: { plan?: { devices: unknown[] } | null } } }
        return ((window as Handle).cohort?.mesh?.plan?.devices.length ?? 0) >= count
      },
      devices.length,
      { timeout: 180_000 },
    )
    log(`room of ${devices.length} devices; streaming for ${MINUTES} min`)

    // The request stream: runs of RUN_SAMPLES, all members and hedged in turn, until the end.
    const stream = (async () => {
      let run = 0
      while (Date.now() < until) {
        const redundancy = run++ % 2 === 0 ? 'all' : 'hedged'
        try {
          const outcomes = await runSamples(host.page, RUN_SAMPLES, {
            redundancy,
            deadlineMs: DEADLINE_MS,
            window: WINDOW,
          })
          totals.requests += RUN_SAMPLES
          for (const outcome of outcomes) {
            if (outcome.error !== null) {
              totals.failed++
              errors.set(outcome.error, (errors.get(outcome.error) ?? 0) + 1)
            } else {
              totals.answered++
              if (outcome.degraded) totals.degraded++
            }
          }
          // A run that returned fewer outcomes than it was asked for lost the rest.
          totals.failed += RUN_SAMPLES - outcomes.length
        } catch (error) {
          totals.requests += RUN_SAMPLES
          totals.failed += RUN_SAMPLES
          totals.runsFailed++
          const message =
            error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error)
          errors.set(`run threw: ${message}`, (errors.get(`run threw: ${message}`) ?? 0) + 1)
        }
      }
    })()

    // Churn: one change every CHURN_MS, within [MIN_DEVICES, MAX_DEVICES] live devices.
    const freeze = async (device: Device) => {
      const cdp = await device.context.newCDPSession(device.page)
      await cdp.send('Debugger.enable')
      await cdp.send('Debugger.pause')
      device.frozen = true
      churn.frozen++
      setTimeout(() => {
        const thaw = rand() < 0.5
        const done = thaw
          ? cdp.send('Debugger.resume').then(() => {
              device.frozen = false
              churn.thawed++
            })
          : device.context.close().then(() => {
              devices.splice(devices.indexOf(device), 1)
              churn.closed++
            })
        done.catch((error: unknown) => log(`thaw failed: ${String(error)}`))
      }, FREEZE_MS)
    }
    let nextMinute = started + 60_000
    while (Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, CHURN_MS))
      const live = devices.filter((device) => !device.frozen)
      const action = rand()
      try {
        if (devices.length < MAX_DEVICES && (action < 0.35 || live.length <= MIN_DEVICES)) {
          await addDevice()
        } else if (live.length > MIN_DEVICES) {
          const victim = live[Math.floor(rand() * live.length)] as Device
          if (action < 0.55) {
            await victim.page.getByTestId('leave').click()
            await victim.context.close()
            devices.splice(devices.indexOf(victim), 1)
            churn.left++
          } else if (action < 0.8) {
            await victim.context.close()
            devices.splice(devices.indexOf(victim), 1)
            churn.closed++
          } else {
            await freeze(victim)
          }
        }
      } catch (error) {
        log(`churn step failed: ${String(error)}`)
      }
      if (Date.now() >= nextMinute) {
        nextMinute += 60_000
        const live = devices.filter((device) => !device.frozen)
        const heaps = await Promise.all(live.map((device) => heapOf(device.page)))
        const serverNow = await serverMemory(server.url)
        const point: MemoryPoint = {
          minute: Math.round((Date.now() - started) / 60_000),
          serverRss: rssBytes(server.pid),
          serverHeap: serverNow.heapUsed,
          serverHeapTotal: serverNow.heapTotal,
          serverExternal: serverNow.external,
          hostHeap: await heapOf(host.page),
          devicesHeapMean: heaps.reduce((sum, heap) => sum + heap, 0) / Math.max(1, heaps.length),
          browserRss: rssOfCommand('chromium'),
          devices: devices.length,
        }
        memory.push(point)
        if (snapshots && point.minute === Math.ceil(MINUTES * WARM_UP_FRACTION))
          await snapshotBoth(server, host.page, snapshots, 'warm')
        log(
          `minute ${point.minute}: ${JSON.stringify(totals)} server heap ${(point.serverHeap / 2 ** 20).toFixed(1)} MiB, ${devices.length} devices`,
        )
      }
    }
    await stream
    if (snapshots) await snapshotBoth(server, host.page, snapshots, 'end')
    const report = renderReport(memory, server.log, snapshots ? heapDiffs(snapshots) : null)
    const date = new Date().toISOString().slice(0, 10)
    writeFileSync(join(args.out ?? 'bench/results', `soak-${date}.md`), report)
    writeFileSync(
      join(args.out ?? 'bench/results', `soak-${date}.json`),
      `${JSON.stringify({ minutes: MINUTES, totals, churn, errors: Object.fromEntries(errors), memory }, null, 2)}\n`,
    )
    console.log(report)
  } finally {
    await browser.close()
    await server.stop()
  }
}

const mib = (bytes: number) => (Number.isFinite(bytes) ? (bytes / 2 ** 20).toFixed(1) : '–')

/** The slope of one memory series after warm-up, in MiB per hour, with its standard error. */
function slopeLine(
  name: string,
  points: readonly MemoryPoint[],
  pick: (point: MemoryPoint) => number,
): string {
  const fitted = points
    .slice(Math.floor(points.length * WARM_UP_FRACTION))
    .filter((p) => Number.isFinite(pick(p)))
  const fit = fitSlope(fitted.map((p) => ({ x: p.minute / 60, y: pick(p) / 2 ** 20 })))
  if (!fit) return `| ${name} | – | – | – |`
  const meanMiB = fitted.reduce((sum, p) => sum + pick(p), 0) / fitted.length / 2 ** 20
  return `| ${name} | ${meanMiB.toFixed(1)} | ${fit.slope.toFixed(2)} ± ${fit.standardError.toFixed(2)} | ${((100 * fit.slope) / meanMiB).toFixed(2)} |`
}

/** What the server's and the dashboard's heaps grew by from the end of the warm-up to the end. */
function heapDiffs(dir: string): string {
  const server = readdirSync(dir)
    .filter((name) => name.startsWith('Heap.') && name.endsWith('.heapsnapshot'))
    .sort()
  const hours = (MINUTES - Math.ceil(MINUTES * WARM_UP_FRACTION)) / 60
  const section = (title: string, before?: string, after?: string) => {
    if (!before || !after) return `### ${title}\n\nNo snapshots.`
    const diff = diffHeapSnapshots(join(dir, before), join(dir, after))
    // What a leak is made of: the program's objects, strings and DOM, not the JIT's code.
    const objects =
      diff.byCategory['JS objects'] + diff.byCategory.strings + diff.byCategory['DOM and native']
    const perHour = (100 * objects) / hours / diff.beforeBytes
    return `### ${title}\n\nObjects, strings and DOM together: ${(objects / 1024).toFixed(1)} KiB over ${(hours * 60).toFixed(0)} minutes, ${perHour.toFixed(2)}% of the heap per hour.\n\n${heapDiffMarkdown(diff)}`
  }
  return [
    section('Server', server[0], server.at(-1)),
    section('Dashboard', 'dashboard-warm.heapsnapshot', 'dashboard-end.heapsnapshot'),
  ].join('\n\n')
}

function renderReport(
  memory: readonly MemoryPoint[],
  serverLog: readonly string[],
  grew: string | null,
): string {
  const lost = totals.failed
  return `# Soak: ${MINUTES} minutes of churn (${new Date().toISOString().slice(0, 10)})

\`npm run soak -- --minutes ${MINUTES}${grew === null ? '' : ' --heap-snapshots <dir>'}\` on this machine (2 shared cores). One Chromium, a
dashboard and ${MIN_DEVICES}–${MAX_DEVICES} device pages (each its own context), the server as its own
process. Every ${CHURN_MS / 1000} s one device joins, leaves (Leave button), is closed, or is frozen
(main thread paused in the debugger for ${FREEZE_MS / 1000} s, then thawed or closed), while the dashboard
streams runs of ${RUN_SAMPLES} samples through the ensemble (all members and hedged in turn, deadline
${DEADLINE_MS} ms, ${WINDOW} requests in flight). Memory is read once a minute: the server's RSS (/proc) and V8 heap (its
loopback health report, the server run with --expose-gc so the heap is read after a full
collection), the dashboard's and the live devices' heaps, JS and DOM (CDP, after a full garbage
collection): live heaps, not garbage a lazy collector has not reclaimed yet; and the summed RSS
of every Chromium process (shared pages counted in each).

## Requests

| requests | answered | degraded | lost (typed error or none) | runs that threw |
| ---: | ---: | ---: | ---: | ---: |
| ${totals.requests} | ${totals.answered} | ${totals.degraded} | ${lost} | ${totals.runsFailed} |

${errors.size === 0 ? 'No request ended in an error.' : `Errors:\n${[...errors].map(([message, count]) => `- ${count} × ${message}`).join('\n')}`}

Churn: ${churn.joined} joins (${MAX_DEVICES - 1} at the start), ${churn.left} leaves, ${churn.closed} closes, ${churn.frozen} freezes (${churn.thawed} thawed).

## Memory slope (after the first ${Math.round(WARM_UP_FRACTION * 100)}% of the run)

"Near zero" here: the slope's magnitude is within two standard errors of zero, or below 1% of the
series' mean per hour (a day at that rate grows it by less than a quarter). A heap whose slope is
not is looked into with \`--heap-snapshots\`: what it grew by is then split into compiled code
(bounded by the program) and objects, strings and DOM (what a leak is made of).

| series | mean MiB | slope MiB/h | % of mean per hour |
| --- | ---: | ---: | ---: |
${slopeLine('server heap', memory, (p) => p.serverHeap)}
${slopeLine('server heap reserved', memory, (p) => p.serverHeapTotal)}
${slopeLine('server external (buffers, natives)', memory, (p) => p.serverExternal)}
${slopeLine('server RSS', memory, (p) => p.serverRss)}
${slopeLine('server RSS outside the heap and external', memory, (p) => p.serverRss - p.serverHeapTotal - p.serverExternal)}
${slopeLine('dashboard heap', memory, (p) => p.hostHeap)}
${slopeLine('device heap (mean of live pages)', memory, (p) => p.devicesHeapMean)}
${slopeLine('all Chromium RSS', memory, (p) => p.browserRss)}

## Over time

| minute | devices | server RSS MiB | server heap MiB | server heap reserved MiB | server external MiB | dashboard heap MiB | device heap MiB | Chromium RSS MiB |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${memory.map((p) => `| ${p.minute} | ${p.devices} | ${mib(p.serverRss)} | ${mib(p.serverHeap)} | ${mib(p.serverHeapTotal)} | ${mib(p.serverExternal)} | ${mib(p.hostHeap)} | ${mib(p.devicesHeapMean)} | ${mib(p.browserRss)} |`).join('\n')}

${
  grew === null
    ? ''
    : `## What grew (heap snapshots at the end of the warm-up and at the end)

Live bytes per kind of object, compared between the two snapshots (taken after a full
collection). Compiled code (bytecode, optimized code, feedback, deopt data) is bounded by the
program: V8 compiles hot functions as they become hot. Objects, strings and the DOM are what a
leak is made of. (Taking a snapshot allocates inside the process and the allocator keeps the
pages: with snapshots on, the server's RSS steps up after the first one and is no leak measure.)

${grew}

`
}## What the server logged

${serverLog.length} lines; the last ten:
${serverLog
  .slice(-10)
  .map((line) => `- \`${line.slice(0, 160)}\``)
  .join('\n')}
`
}

await main()
