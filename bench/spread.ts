/**
 * `npm run bench:spread -- --devices 1,2,4,8,16 --slowdown 50 --window 16`: how an ensemble's
 * requests/s grows with the devices of its group. One dashboard streams samples, `window` in
 * flight, through a room of N Node devices pinned to K = 1 (one group of N: the requester spreads
 * each request's fanout over the members with the fewest of its requests in flight). Each Node
 * device emulates one `slowdown` times slower (it computes, then stays busy (slowdown − 1) × that
 * long without a core): on two shared cores, devices that really computed could not run in
 * parallel, and N × one device's rate could not show. Reports, per N, requests/s, its ratio to
 * N × the one-device rate measured in the same run, latency, the fanout and the planner's
 * predicted capacity; every answer is checked against the offline reference. Writes
 * bench/results/spread-<date>.md (and .json). A benchmark, not a test.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { chromium, expect, type Page } from '@playwright/test'
import { CHROMIUM_PATH, chromiumArgs } from '../e2e/browsers.ts'
import { hostOpenLinks } from '../e2e/classroom.ts'
import { ensembleReference, loadManifest } from '../e2e/ensemble-reference.ts'
import {
  createRoomAsHost,
  runSamples,
  startCohortServer,
  startNodeDevices,
  waitForEnsembleOf,
} from '../e2e/harness.ts'
import { type LatencySummary, ratio, summarize } from './stats.ts'

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '1,2,4,8,16' },
    slowdown: { type: 'string', default: '50' },
    window: { type: 'string', default: '16' },
    samples: { type: 'string', default: '300' },
    task: { type: 'string', default: 'fashion' },
    out: { type: 'string', default: 'bench/results' },
  },
})
const COUNTS = (args.devices ?? '')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0)
const SLOWDOWN = Number(args.slowdown)
const WINDOW = Number(args.window)
const SAMPLES = Number(args.samples)
const TASK = args.task ?? 'fashion'
/** Samples run first on each room (links warm, models loaded, hedging history), not counted. */
const WARM_UP = 30

const log = (message: string) =>
  console.error(`[spread ${new Date().toISOString().slice(11, 19)}] ${message}`)

/** One room size's figures. */
interface SpreadRow {
  readonly devices: number
  readonly fanout: number
  readonly predictedCapacityRps: number
  readonly requestsPerSecond: number
  readonly latency: LatencySummary
  readonly lost: number
  readonly notReference: number
  /** Answers won per device: how evenly the group shared the work. */
  readonly winsPerDevice: readonly number[]
}

/** The pinned K = 1 group as the dashboard's plan has it. */
const groupOf = (host: Page) =>
  host.evaluate(() => {
    type Handle = {
      cohort: {
        mesh: {
          plan: {
            ensemble: {
              capacityRps: number
              groups: { members: string[]; fanout: number }[]
            } | null
          } | null
        }
      }
    }
    const ensemble = (window as unknown as Handle).cohort.mesh.plan?.ensemble
    const group = ensemble?.groups[0]
    return { fanout: group?.fanout ?? 0, capacityRps: ensemble?.capacityRps ?? 0 }
  })

const server = await startCohortServer()
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: chromiumArgs })
const rows: SpreadRow[] = []
try {
  const manifest = loadManifest(TASK)
  const reference = await ensembleReference(manifest, 1, WARM_UP + SAMPLES)
  const host = await createRoomAsHost(browser, server)
  await host.page.goto(`${host.page.url()}?task=${TASK}&k=1&threads=1`)
  const joinUrl = `${host.joinUrl}?task=${TASK}`
  for (const count of COUNTS) {
    log(`${count} Node devices, ${SLOWDOWN}× slower, K = 1, ${WINDOW} in flight`)
    const devices = await startNodeDevices(joinUrl, [
      '--devices',
      String(count),
      '--per-process',
      String(count),
      '--slowdown',
      String(SLOWDOWN),
    ])
    try {
      await waitForEnsembleOf(host.page, devices.ids, { linksMeasured: true })
      await expect.poll(() => hostOpenLinks(host.page), { timeout: 60_000 }).toBe(count)
      await runSamples(host.page, WARM_UP, { window: WINDOW })
      const started = performance.now()
      const outcomes = await runSamples(host.page, SAMPLES, { window: WINDOW })
      const seconds = (performance.now() - started) / 1_000
      const answered = outcomes.filter((o) => o.error === null)
      const group = await groupOf(host.page)
      const wins = new Map<string, number>()
      for (const o of answered)
        for (const winner of o.winners)
          wins.set(winner.deviceId, (wins.get(winner.deviceId) ?? 0) + 1)
      rows.push({
        devices: count,
        fanout: group.fanout,
        predictedCapacityRps: group.capacityRps,
        requestsPerSecond: answered.length / seconds,
        latency: summarize(answered.map((o) => o.latencyMs)),
        lost: outcomes.length - answered.length,
        notReference: answered.filter((o) => o.prediction !== reference[o.index]).length,
        winsPerDevice: devices.ids.map((id) => wins.get(id) ?? 0),
      })
      log(`${(answered.length / seconds).toFixed(1)} requests/s`)
    } finally {
      await devices.stop('SIGINT')
    }
  }
} finally {
  await browser.close()
  await server.stop()
}

const single = rows.find((row) => row.devices === 1)?.requestsPerSecond ?? null
const date = new Date().toISOString().slice(0, 10)
const lines = [
  `# Requests/s against the devices of a group — ${date}`,
  '',
  `One Chromium dashboard streams ${SAMPLES} fashion samples (after ${WARM_UP} not counted), ${WINDOW} in flight, through N Node devices pinned to K = 1: one group of N. Each device emulates one ${SLOWDOWN}× slower (it runs the student, then stays busy ${SLOWDOWN - 1}× as long without a core), so N devices can work at once on this machine's 2 shared cores; the requester, the coordinator and the real compute still share them. Ratio: requests/s over N × the 1-device rate of this run. Every answer is checked against the offline reference.`,
  '',
  '| devices | fanout | requests/s | ratio to N × 1 device | predicted capacity | p50 ms | p95 ms | lost | not the reference | answers won per device (min–max) |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ...rows.map((row) => {
    const share = ratio(row.requestsPerSecond, single === null ? null : single * row.devices)
    return `| ${row.devices} | ${row.fanout} | ${row.requestsPerSecond.toFixed(1)} | ${share === null ? '–' : share.toFixed(2)} | ${row.predictedCapacityRps.toFixed(1)} | ${row.latency.p50Ms.toFixed(1)} | ${row.latency.p95Ms.toFixed(1)} | ${row.lost} | ${row.notReference} | ${Math.min(...row.winsPerDevice)}–${Math.max(...row.winsPerDevice)} |`
  }),
  '',
  'What this shows: whether a group spreads its requests over its members (each request goes to the fanout with the fewest requests in flight). What it cannot: real devices computing in parallel (the emulated slowdown holds a device without a core), or networks other than loopback.',
  '',
]
const out = args.out ?? 'bench/results'
writeFileSync(join(out, `spread-${date}.md`), lines.join('\n'))
writeFileSync(join(out, `spread-${date}.json`), `${JSON.stringify({ date, rows }, null, 2)}\n`)
console.log(lines.join('\n'))
