/**
 * The room phase of `npm run bench`: warm-up, floors, then every mode without failures, with
 * stragglers slowed and with devices closed mid-run, the failover modes with devices frozen
 * mid-run (replaced before the next scenario), and last the ensemble with each K pinned.
 */
import { atWindow } from '@cohort/planner'
import { type Manifest, quantile } from '@cohort/protocol'
import type { Page } from '@playwright/test'
import {
  modelTimings,
  type RequestOutcome,
  runCloudOnly,
  runEarlyExit,
  runEnsemble,
  runSingle,
  settleExitProfile,
  waitForDone,
} from './dashboard-calls.ts'
import { connectRaw, meshPing, rawPing, startRawReceiver } from './raw-channel.ts'
import type {
  Condition,
  Floors,
  KResult,
  Mode,
  RoomSnapshot,
  ScenarioResult,
  WindowPrediction,
  WindowResult,
} from './report-types.ts'
import type { PlanView, Room } from './room.ts'
import { summarizeScenario } from './scenario-summary.ts'
import { summarize } from './stats.ts'

/** Every mode, in the report's order. */
const MODES: readonly Mode[] = [
  'single',
  'ensemble-all',
  'ensemble-hedged',
  'early-exit',
  'early-exit-mixed',
  'cloud-only',
]
/** The modes whose victims have partners to fail over to. */
const FREEZABLE: readonly Mode[] = ['ensemble-all', 'ensemble-hedged', 'early-exit']
const WARM_UP = 20
/** Requests in flight at once in the window phase; every other row sends one after another. */
export const WINDOWS: readonly number[] = [1, 2, 4, 8, 16]
/** The modes of the window phase, the single-device teacher first (the baseline). */
const WINDOW_MODES: readonly WindowResult['mode'][] = ['single', 'ensemble-all', 'early-exit']
/** Heartbeats keep flowing while nothing is asked: their rate is measured over this window. */
const IDLE_WINDOW_MS = 4_000

/** What the room phase is asked to do. */
export interface RoomOptions {
  readonly manifest: Manifest
  readonly samples: number
  readonly deadlineMs: number
  readonly slowdown: number
  /** Early-exit thresholds that send about 40 / 30 / 30% of the samples to each exit. */
  readonly mixedThresholds: readonly number[]
  readonly log: (message: string) => void
}

/** What the room phase measured. */
export interface RoomResults {
  readonly room: RoomSnapshot
  readonly floors: Floors
  readonly scenarios: ScenarioResult[]
  readonly byK: KResult[]
  readonly byWindow: WindowResult[]
}

/** Single-teacher and cloud-only requests go to the cloud tier's best member (the fastest device). */
const cloudOf = (plan: PlanView) => plan.earlyExit?.tiers.at(-1)?.members[0] ?? ''

/** The devices a failure closes: the ones each mode asks first. */
function victimsOf(mode: Mode, plan: PlanView): string[] {
  switch (mode) {
    case 'single':
    case 'cloud-only':
      return [cloudOf(plan)]
    case 'ensemble-all':
    case 'ensemble-hedged':
      return plan.ensemble?.groups.map((g) => g.members[0] ?? '') ?? []
    case 'early-exit':
    case 'early-exit-mixed':
      return plan.earlyExit?.tiers.map((t) => t.members[0] ?? '') ?? []
  }
}

/**
 * The plan's load model at `window`: its unloaded latency (the ensemble's predicted latency; the
 * early-exit remote time, which leaves out segment 1 on the requester) against its capacity.
 */
function predictedAtWindow(
  mode: WindowResult['mode'],
  plan: PlanView,
  window: number,
): WindowPrediction | null {
  const model =
    mode === 'ensemble-all' && plan.ensemble
      ? { latencyMs: plan.ensemble.predictedLatencyMs, capacityRps: plan.ensemble.capacityRps }
      : mode === 'early-exit' && plan.earlyExit
        ? { latencyMs: plan.earlyExit.expectedRemoteMs, capacityRps: plan.earlyExit.capacityRps }
        : null
  if (!model) return null
  const { requestsPerSecond, latencyMs } = atWindow(model.latencyMs, model.capacityRps, window)
  return { requestsPerSecond, latencyMs }
}

/** `samples` requests of `mode` from the dashboard, `window` in flight (one at a time by default). */
function requests(
  host: Page,
  mode: Mode,
  plan: PlanView,
  samples: number,
  options: RoomOptions,
  window = 1,
): Promise<RequestOutcome[]> {
  const { deadlineMs } = options
  switch (mode) {
    case 'single':
      return runSingle(host, { samples, deviceId: cloudOf(plan), deadlineMs, window })
    case 'ensemble-all':
      return runEnsemble(host, { samples, redundancy: 'all', deadlineMs, window })
    case 'ensemble-hedged':
      return runEnsemble(host, { samples, redundancy: 'hedged', deadlineMs, window })
    case 'early-exit':
      return runEarlyExit(host, { samples, deadlineMs, window })
    case 'early-exit-mixed':
      return runEarlyExit(host, {
        samples,
        deadlineMs,
        thresholds: options.mixedThresholds,
        window,
      })
    case 'cloud-only':
      return runCloudOnly(host, { samples, deviceId: cloudOf(plan), deadlineMs })
  }
}

/** Measures every scenario in `room` (already planned). */
export async function runRoomScenarios(room: Room, options: RoomOptions): Promise<RoomResults> {
  const { manifest, samples, log } = options
  const host = room.host.page
  const plan = await room.plan()
  const ensemble = plan.ensemble
  const tiers = plan.earlyExit?.tiers ?? []
  if (!ensemble) throw new Error('no ensemble plan')
  log(
    `plan v${plan.version}: K=${ensemble.k}, groups ${ensemble.groups.map((g) => g.members.length).join('+')}, tiers ${tiers.map((t) => `${t.tier} ${t.members.length}`).join(', ')}`,
  )

  // Warm-up: every session, link and tier has run, and the dashboard's own background
  // measuring is done, before anything is timed.
  await settleExitProfile(host, options.mixedThresholds)
  await runEarlyExit(host, { samples: WARM_UP, deadlineMs: options.deadlineMs, thresholds: [2, 2] })
  for (const mode of MODES) await requests(host, mode, plan, WARM_UP, options)

  log('floors')
  const peer = room.member(cloudOf(plan))
  await connectRaw(host, peer.page)
  await startRawReceiver(peer.page, Number.MAX_SAFE_INTEGER)
  const idleBytes = await room.bytesSent()
  const idleStarted = performance.now()
  await host.waitForTimeout(IDLE_WINDOW_MS) // a measuring window of idle links, not a synchronisation
  const heartbeatBytesPerMs =
    ((await room.bytesSent()) - idleBytes) / (performance.now() - idleStarted)
  const floors = await measureFloors(host, peer.deviceId, plan, manifest, samples)

  const scenarios: ScenarioResult[] = []
  /** Runs one scenario and keeps its row; bytes are counted only while no page closes. */
  const scenario = async (
    mode: Mode,
    condition: Condition,
    run: () => Promise<{ outcomes: RequestOutcome[]; failure?: ScenarioResult['failure'] }>,
    slowed?: ScenarioResult['slowed'],
  ) => {
    const bytesBefore = await room.bytesSent()
    const startedAt = performance.now()
    const { outcomes, failure } = await run()
    const elapsedMs = performance.now() - startedAt
    const wireBytes =
      condition === 'failure' || condition === 'frozen'
        ? null
        : Math.max(0, (await room.bytesSent()) - bytesBefore - heartbeatBytesPerMs * elapsedMs)
    const row = summarizeScenario({
      mode,
      condition,
      outcomes,
      wireBytes,
      exits: mode.startsWith('early-exit') ? manifest.earlyExit.segments.length : null,
      cloudOnlyCost: manifest.earlyExit.cost.cloudOnly,
      ...(failure ? { failure } : {}),
      ...(slowed ? { slowed } : {}),
    })
    scenarios.push(row)
    log(
      `${mode} / ${condition}: p50 ${row.latency.p50Ms.toFixed(2)} ms, p95 ${row.latency.p95Ms.toFixed(2)} ms, ${row.answered}/${row.requests} answered, ${row.degraded} degraded, ${row.lost} lost, accuracy ${row.accuracy.toFixed(2)}%`,
    )
  }

  log('without failures')
  for (const mode of MODES)
    await scenario(mode, 'normal', async () => ({
      outcomes: await requests(host, mode, plan, samples, options),
    }))

  // Windows: each mode with 1…16 requests in flight, the single-device teacher as the baseline.
  log('by window')
  const byWindow: WindowResult[] = []
  for (const window of WINDOWS) {
    for (const mode of WINDOW_MODES) {
      const startedAt = performance.now()
      const outcomes = await requests(host, mode, plan, samples, options, window)
      const elapsedMs = performance.now() - startedAt
      const answered = outcomes.filter((outcome) => outcome.error === null)
      const row: WindowResult = {
        mode,
        window,
        requests: outcomes.length,
        answered: answered.length,
        degraded: answered.filter((outcome) => outcome.degraded === true).length,
        requestsPerSecond: (1_000 * answered.length) / elapsedMs,
        latency: summarize(answered.map((outcome) => outcome.latencyMs)),
        predicted: predictedAtWindow(mode, plan, window),
      }
      byWindow.push(row)
      log(
        `${mode} window ${window}: ${row.requestsPerSecond.toFixed(1)} req/s, p50 ${row.latency.p50Ms.toFixed(2)} ms, p95 ${row.latency.p95Ms.toFixed(2)} ms, ${row.answered}/${row.requests} answered`,
      )
    }
  }

  // Stragglers: the best member of every group and tier (the one asked first) is slowed down.
  const slowed = [
    ...new Set([...victimsOf('ensemble-all', plan), ...victimsOf('early-exit', plan)]),
  ]
  const stragglers = { devices: slowed, rate: options.slowdown }
  log(`slowed ${options.slowdown}x: ${slowed.join(', ')}`)
  for (const id of slowed) await room.slowDown(id, options.slowdown)
  const modelsWhileSlowed = summarizeTimings(await modelTimings(host, samples))
  for (const mode of MODES)
    await scenario(
      mode,
      'slowed',
      async () => ({ outcomes: await requests(host, mode, plan, samples, options) }),
      stragglers,
    )
  for (const id of slowed) await room.slowDown(id, 1)

  log('with failures')
  const devices = room.devices.size
  const closeAfter = Math.floor(samples / 4)
  for (const [index, mode] of MODES.entries()) {
    if (index > 0) {
      // New devices take the closed ones' places, and the room is planned again.
      await room.addDevices(devices - room.devices.size)
      await room.waitPlanned()
    }
    const now = await room.plan()
    // New members' sessions and links have run once before the timed requests.
    if (index > 0) await requests(host, mode, now, WARM_UP, options)
    const victims = victimsOf(mode, now)
    await scenario(mode, 'failure', async () => {
      const progress =
        mode === 'single' || mode === 'cloud-only'
          ? null
          : mode.startsWith('ensemble')
            ? 'ensemble'
            : 'early-exit'
      if (progress === null) {
        // The single-device baselines expose no progress: a quarter, the close, the rest.
        const first = await requests(host, mode, now, closeAfter, options)
        for (const id of victims) await room.close(id)
        const rest = await requests(host, mode, now, samples - closeAfter, options)
        return {
          outcomes: [...first, ...rest],
          failure: { closed: victims, afterRequests: closeAfter },
        }
      }
      const outcomes = requests(host, mode, now, samples, options)
      const afterRequests = await waitForDone(host, progress, closeAfter)
      for (const id of victims) await room.close(id)
      return { outcomes: await outcomes, failure: { closed: victims, afterRequests } }
    })
  }

  // Frozen members: nothing closes, the requester must notice the silence itself. Only the modes
  // that have another member to turn to (a frozen single device would just time out every request).
  log('with frozen devices')
  for (const mode of FREEZABLE) {
    await room.addDevices(devices - room.devices.size)
    const now = await room.waitPlanned()
    await requests(host, mode, now, WARM_UP, options)
    const victims = victimsOf(mode, now)
    await scenario(mode, 'frozen', async () => {
      const outcomes = requests(host, mode, now, samples, options)
      const afterRequests = await waitForDone(
        host,
        mode.startsWith('ensemble') ? 'ensemble' : 'early-exit',
        closeAfter,
      )
      for (const id of victims) await room.freeze(id)
      const answered = await outcomes
      // Gone for good afterwards: new devices take their places before the next scenario.
      for (const id of victims) await room.close(id)
      return { outcomes: answered, failure: { closed: victims, afterRequests } }
    })
  }

  // Last, every K the task ships, pinned from the dashboard, in the same room with its closed
  // devices replaced. (Last because the planner's own choice afterwards may differ: the failure
  // evidence it has gathered by then changes its resilience estimates.)
  log('ensemble by K')
  await room.addDevices(devices - room.devices.size)
  await room.waitPlanned()
  const byK: KResult[] = []
  for (const set of manifest.ensembles) {
    const pinned = await room.pinK(set.k)
    const ensemble = pinned.ensemble
    if (!ensemble) throw new Error(`no ensemble plan for K=${set.k}`)
    await runEnsemble(host, { samples: WARM_UP, redundancy: 'all', deadlineMs: options.deadlineMs })
    const outcomes = await runEnsemble(host, {
      samples,
      redundancy: 'all',
      deadlineMs: options.deadlineMs,
    })
    const row = summarizeScenario({
      mode: 'ensemble-all',
      condition: 'normal',
      outcomes,
      wireBytes: null,
      exits: null,
      cloudOnlyCost: manifest.earlyExit.cost.cloudOnly,
    })
    byK.push({
      k: set.k,
      groups: ensemble.groups.map((g) => g.members.length),
      predictedLatencyMs: ensemble.predictedLatencyMs,
      resilienceMet: ensemble.resilienceMet,
      requests: row.requests,
      answered: row.answered,
      degraded: row.degraded,
      lost: row.lost,
      accuracy: row.accuracy,
      manifestAccuracy: set.accuracy.test,
      latency: row.latency,
    })
    log(
      `K=${set.k} pinned: groups ${ensemble.groups.map((g) => g.members.length).join('+')}, p50 ${row.latency.p50Ms.toFixed(2)} ms, p95 ${row.latency.p95Ms.toFixed(2)} ms, accuracy ${row.accuracy.toFixed(2)}%`,
    )
  }
  return {
    room: {
      planVersion: plan.version,
      k: ensemble.k,
      groups: ensemble.groups.map((g) => g.members),
      tiers: tiers.map((t) => ({ tier: t.tier, members: t.members })),
    },
    floors: { ...floors, modelsWhileSlowed },
    scenarios,
    byK,
    byWindow,
  }
}

const summarizeTimings = (timings: Record<string, number[]>) =>
  Object.fromEntries(Object.entries(timings).map(([id, ms]) => [id, summarize(ms)]))

/** Floors on the dashboard page and its link to `peerId`, for the plan's models. */
async function measureFloors(
  page: Page,
  peerId: string,
  plan: PlanView,
  manifest: Manifest,
  samples: number,
): Promise<Omit<Floors, 'modelsWhileSlowed'>> {
  const raw = await rawPing(page, samples)
  const echo = await meshPing(page, peerId, samples)
  const timings = await modelTimings(page, samples)
  const p50 = (id: string) => quantile(timings[id] ?? [], 0.5)
  const set = manifest.ensembles.find((e) => e.k === plan.ensemble?.k)
  const rawMs = quantile(raw, 0.5)
  const segments = manifest.earlyExit.segments
  return {
    rawPing: summarize(raw),
    meshPing: summarize(echo),
    models: summarizeTimings(timings),
    singleMs: p50(manifest.teacher.model) + rawMs,
    ensembleMs: Math.max(...(set?.students ?? []).map(p50)) + rawMs + p50(set?.combiner ?? ''),
    earlyExitMs: p50(segments[0] ?? ''),
    cloudOnlyMs: segments.reduce((sum, id) => sum + p50(id), 0) + rawMs,
  }
}
