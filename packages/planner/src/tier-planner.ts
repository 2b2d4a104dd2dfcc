import type { DeviceId, EarlyExitPlan, EarlyExitTier, TierName } from '@cohort/protocol'
import {
  computeMs,
  DEFAULT_MACS_PER_MS,
  type DeviceSpec,
  type ModelSpec,
  measuredThroughput,
  remoteCallMs,
} from './latency-model.ts'
import { capacityLine, planCapacity } from './load-model.ts'

/**
 * DistrEE / DIMEE tiers (ALGORITHMS.md section 2): the requester runs segment 1 itself (the mobile
 * tier); the room's devices are dealt to the remote tiers that run segments 2..S. Always-on
 * devices (Node processes), then faster devices, take later tiers (they run the heavier segments,
 * and the cloud is "the strongest device"); every
 * device serves exactly one tier when there are at least as many devices as tiers, and the devices
 * are split as evenly as the room allows, so every remote tier has 2 members from 2 x tiers
 * devices on. Extra devices go to the earlier tiers, which more samples reach.
 */

/** The early-exit backbone as the planner sees it (from the task's manifest). */
export interface SegmentChainSpec {
  /** Every segment in order; `inputBytes` is what one hop to it sends (the quantized activation). */
  readonly segments: readonly ModelSpec[]
  /** alpha_i for every exit but the last. */
  readonly thresholds: readonly number[]
  /** Share of samples that leave at each exit (the manifest's calibration); sums to 1. */
  readonly exitFractions: readonly number[]
}

/** A remote tier's name by its position among `count` remote tiers: the last is the cloud. */
export function tierName(position: number, count: number): TierName {
  return position === count - 1 ? 'cloud' : 'edge'
}

/**
 * Splits `n` devices into `tiers` consecutive runs (slowest first), as evenly as possible with the
 * earlier tiers taking the remainder. Returns each tier's size.
 */
export function tierSizes(n: number, tiers: number): number[] {
  const base = Math.floor(n / tiers)
  const extra = n % tiers
  return Array.from({ length: tiers }, (_, tier) => base + (tier < extra ? 1 : 0))
}

/** Predicted ms of one hop from the previous tier to `device` for each remote segment (2..S). */
export function remoteHopMs(device: DeviceSpec, chain: SegmentChainSpec): number[] {
  const models = new Map(chain.segments.map((segment) => [segment.id, segment]))
  const throughput = measuredThroughput(device, models)
  return chain.segments
    .slice(1)
    .map((segment) =>
      remoteCallMs(device, segment, computeMs(device, segment, throughput, DEFAULT_MACS_PER_MS)),
    )
}

/**
 * How much better a fresh choice must look before a replan moves a device that is already placed:
 * profiles measured on shared, loaded cores jitter, and every move re-links a tier's neighbours.
 */
export const MOVE_GAIN = 1.5

/**
 * Plans the remote tiers; null without devices or without remote segments. Given the plan in
 * force, the new one is that plan with the changes the room forced (devices gone, newcomers,
 * sizes to even out) rather than a fresh deal: a device keeps its tier, a tier keeps its head,
 * unless the fresh choice is MOVE_GAIN times better (or puts an always-on device where a browser
 * was), so a class that joins one by one re-links only the newcomers.
 */
export function planTiers(
  devices: readonly DeviceSpec[],
  chain: SegmentChainSpec,
  previous: EarlyExitPlan | null = null,
): EarlyExitPlan | null {
  const remote = chain.segments.slice(1)
  if (devices.length === 0 || remote.length === 0) return null
  // Per device and remote segment: predicted ms of one hop (compute + round trip + bytes).
  const hopMs = devices.map((device) => remoteHopMs(device, chain))
  const segmentModels = new Map(chain.segments.map((segment) => [segment.id, segment]))
  // Speed = predicted ms of running every remote segment; ties by reliability, then id, so the
  // same room always gets the same plan.
  const total = hopMs.map((row) => row.reduce((sum, ms) => sum + ms, 0))
  // Always-on devices (Node processes: no screen to lock, no tab to hide) come last, so they are
  // the cloud: DIMEE's cloud is the strong device that is always there.
  const alwaysOn = (index: number) => (devices[index]?.alwaysOn === true ? 1 : 0)
  const slowestFirst = devices
    .map((_, index) => index)
    .sort(
      (a, b) =>
        alwaysOn(a) - alwaysOn(b) ||
        (total[b] ?? 0) - (total[a] ?? 0) ||
        (devices[b]?.failureProbability ?? 0) - (devices[a]?.failureProbability ?? 0) ||
        ((devices[a]?.deviceId ?? '') < (devices[b]?.deviceId ?? '') ? -1 : 1),
    )
  const fresh: number[][] =
    devices.length >= remote.length
      ? splitRuns(slowestFirst, tierSizes(devices.length, remote.length))
      : // Fewer devices than tiers: one member each, later tiers on faster devices (reused).
        remote.map((_, tier) => [
          slowestFirst[Math.floor((tier * devices.length) / remote.length)] ?? 0,
        ])
  const sameChain =
    previous !== null &&
    previous.tiers.length === remote.length &&
    previous.tiers.every((tier, position) => tier.segment === remote[position]?.id)
  const memberIndices =
    sameChain && devices.length >= remote.length
      ? keepPlacement(
          previous,
          devices,
          fresh,
          (a, b) =>
            alwaysOn(a) - alwaysOn(b) || ((total[b] ?? 0) > (total[a] ?? 0) * MOVE_GAIN ? 1 : 0),
        )
      : fresh

  const tiers: EarlyExitTier[] = remote.map((segment, position) => {
    const best = [...(memberIndices[position] ?? [])].sort(
      (a, b) =>
        (hopMs[a]?.[position] ?? 0) - (hopMs[b]?.[position] ?? 0) ||
        (devices[a]?.failureProbability ?? 0) - (devices[b]?.failureProbability ?? 0),
    )
    const members = sameChain
      ? keepOrder(previous.tiers[position]?.members ?? [], best, devices, (index) => ({
          ms: hopMs[index]?.[position] ?? 0,
          failureProbability: devices[index]?.failureProbability ?? 0,
        }))
      : best
    const memberMs = members.map((member) => hopMs[member]?.[position] ?? 0)
    return {
      tier: tierName(position, remote.length),
      segment: segment.id,
      members: members.map((member) => devices[member]?.deviceId ?? '') as DeviceId[],
      memberMs,
      predictedMs: memberMs[0] ?? 0,
    }
  })
  // A sample reaches remote tier t when it did not leave at any exit before segment t + 2.
  let reaching = 1
  let expectedRemoteMs = 0
  const demands: { deviceId: string; ms: number; share: number; label: string }[] = []
  tiers.forEach((tier, position) => {
    reaching -= chain.exitFractions[position] ?? 0
    const share = Math.max(0, reaching)
    expectedRemoteMs += share * tier.predictedMs
    // Under load a tier's best member takes its hops (failover goes down the list only when it
    // fails), so its compute, weighted by the share of samples that get this far, is its demand.
    const best = devices.find((device) => device.deviceId === tier.members[0])
    const segment = remote[position]
    if (best && segment)
      demands.push({
        deviceId: best.deviceId,
        ms: computeMs(best, segment, measuredThroughput(best, segmentModels), DEFAULT_MACS_PER_MS),
        share,
        label: tier.tier,
      })
  })
  const capacity = planCapacity(demands)
  const shared = devices.length < remote.length
  const explanation = [
    `Mobile tier: the requester runs ${chain.segments[0]?.id ?? 'segment 1'} itself.`,
    ...tiers.map(
      (tier) =>
        `${tier.tier} (${tier.segment}): ${listed(tier.members)}; ${tier.predictedMs.toFixed(2)} ms per hop to the best member.`,
    ),
    ...(devices.some((device) => device.alwaysOn)
      ? ['Always-on devices (Node) take the cloud tier first.']
      : []),
    shared
      ? `Only ${devices.length} device${devices.length === 1 ? '' : 's'} for ${remote.length} tiers: devices serve several tiers and a tier has no backup.`
      : tiers.every((tier) => tier.members.length >= 2)
        ? 'Every remote tier has a backup member; faster devices take later tiers.'
        : `Not every remote tier can have a backup with ${devices.length} devices; faster devices take later tiers.`,
    `Expected remote time ${expectedRemoteMs.toFixed(2)} ms per request at the calibrated exit shares (${chain.exitFractions.map((f) => f.toFixed(2)).join(' / ')}).`,
    `${capacityLine(capacity, expectedRemoteMs)} (Remote tiers only: the requester's own segment 1 is a limit of its own.)`,
  ]
  return {
    segments: chain.segments.map((segment) => segment.id),
    tiers,
    thresholds: [...chain.thresholds],
    expectedRemoteMs,
    capacityRps: capacity.capacityRps,
    explanation,
  }
}

/** Members named in an explanation line; more are counted, so a line of a big room stays short. */
const NAMED_MEMBERS = 4

function listed(members: readonly string[]): string {
  const named = members.slice(0, NAMED_MEMBERS).join(', ')
  return members.length > NAMED_MEMBERS
    ? `${named} and ${members.length - NAMED_MEMBERS} more`
    : named
}

function splitRuns(order: readonly number[], sizes: readonly number[]): number[][] {
  const runs: number[][] = []
  let start = 0
  for (const size of sizes) {
    runs.push(order.slice(start, start + size))
    start += size
  }
  return runs
}

/**
 * Each tier's members under the plan in force: survivors stay where they were, newcomers go where
 * the fresh deal put them, then tiers are evened out to the fresh sizes by moving the devices the
 * fresh deal would move. `earlierBelongsLater(a, b)` > 0 when device a (in an earlier tier) should
 * trade places with device b (in a later one): the swap is made.
 */
function keepPlacement(
  previous: EarlyExitPlan,
  devices: readonly DeviceSpec[],
  fresh: readonly (readonly number[])[],
  earlierBelongsLater: (a: number, b: number) => number,
): number[][] {
  const freshTier = new Map<number, number>()
  fresh.forEach((members, tier) => {
    for (const member of members) freshTier.set(member, tier)
  })
  const index = new Map(devices.map((device, i) => [device.deviceId, i]))
  const tiers: number[][] = fresh.map(() => [])
  const placed = new Set<number>()
  previous.tiers.forEach((tier, position) => {
    for (const id of tier.members) {
      const i = index.get(id)
      if (i === undefined || placed.has(i)) continue
      tiers[position]?.push(i)
      placed.add(i)
    }
  })
  devices.forEach((_, i) => {
    if (!placed.has(i)) tiers[freshTier.get(i) ?? 0]?.push(i)
  })
  // Even out: an over-full tier gives its members the fresh deal sends elsewhere (newest first).
  const sizes = fresh.map((members) => members.length)
  for (let moved = true; moved; ) {
    moved = false
    for (let from = 0; from < tiers.length; from++) {
      const members = tiers[from] ?? []
      if (members.length <= (sizes[from] ?? 0)) continue
      const to = sizes.findIndex((size, tier) => (tiers[tier]?.length ?? 0) < size)
      if (to < 0) break
      const candidates = members.filter((member) => (freshTier.get(member) ?? from) !== from)
      const leaving =
        candidates.find((member) => freshTier.get(member) === to) ??
        candidates.at(-1) ??
        (to > from ? members[0] : members.at(-1))
      if (leaving === undefined) break
      members.splice(members.indexOf(leaving), 1)
      tiers[to]?.push(leaving)
      moved = true
    }
  }
  // Swap pairs across tiers the fresh deal ranks clearly the other way round.
  for (let earlier = 0; earlier < tiers.length; earlier++) {
    for (let later = earlier + 1; later < tiers.length; later++) {
      const a = tiers[earlier] ?? []
      const b = tiers[later] ?? []
      for (let i = 0; i < a.length; i++) {
        const j = b.findIndex((member) => earlierBelongsLater(a[i] ?? 0, member) > 0)
        if (j < 0) continue
        const [x, y] = [a[i] ?? 0, b[j] ?? 0]
        a[i] = y
        b[j] = x
      }
    }
  }
  return tiers
}

/**
 * A tier's members in the order of the plan in force (newcomers after, fastest first), unless the
 * fastest member beats the head by MOVE_GAIN or the head has failed clearly more often: then by
 * speed, as a fresh plan.
 */
function keepOrder(
  previousOrder: readonly string[],
  bySpeed: readonly number[],
  devices: readonly DeviceSpec[],
  cost: (index: number) => { ms: number; failureProbability: number },
): number[] {
  const rank = new Map(previousOrder.map((id, position) => [id, position]))
  const kept = [...bySpeed].sort((a, b) => {
    const ra = rank.get(devices[a]?.deviceId ?? '') ?? Number.POSITIVE_INFINITY
    const rb = rank.get(devices[b]?.deviceId ?? '') ?? Number.POSITIVE_INFINITY
    return ra === rb ? bySpeed.indexOf(a) - bySpeed.indexOf(b) : ra - rb
  })
  const head = kept[0]
  const fastest = bySpeed[0]
  if (head === undefined || fastest === undefined || head === fastest) return kept
  const h = cost(head)
  const f = cost(fastest)
  const clearlyFaster = f.ms * MOVE_GAIN < h.ms
  const clearlyFlakier = h.failureProbability > 2 * f.failureProbability + 0.01
  return clearlyFaster || clearlyFlakier ? [...bySpeed] : kept
}
