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

/** Plans the remote tiers; null without devices or without remote segments. */
export function planTiers(
  devices: readonly DeviceSpec[],
  chain: SegmentChainSpec,
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
  const memberIndices: number[][] =
    devices.length >= remote.length
      ? splitRuns(slowestFirst, tierSizes(devices.length, remote.length))
      : // Fewer devices than tiers: one member each, later tiers on faster devices (reused).
        remote.map((_, tier) => [
          slowestFirst[Math.floor((tier * devices.length) / remote.length)] ?? 0,
        ])

  const tiers: EarlyExitTier[] = remote.map((segment, position) => {
    const members = [...(memberIndices[position] ?? [])].sort(
      (a, b) =>
        (hopMs[a]?.[position] ?? 0) - (hopMs[b]?.[position] ?? 0) ||
        (devices[a]?.failureProbability ?? 0) - (devices[b]?.failureProbability ?? 0),
    )
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
