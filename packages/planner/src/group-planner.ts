import { bottleneckAssignment } from './bottleneck-assignment.ts'
import { groupFailureProbability } from './failure-model.ts'
import type { DeviceSpec } from './latency-model.ts'

/**
 * Deals devices into K groups, one per student (RoCoIn). Under redundant execution a group
 * answers as fast as its fastest live member, so:
 * 1. each group's first member comes from an exact bottleneck assignment (the slowest group's
 *    best member is as fast as it can be);
 * 2. groups short of the resilience target get the devices that cover their shortfall best;
 * 3. the rest go, fastest first, to the group whose backup (second-best member) is slowest, so a
 *    crashed or straggling member costs as little as possible.
 * When step 2 cannot meet the target with the fastest first members, slower first members are
 * tried (binary search on the latency bound), keeping reliable devices for the groups.
 */

/** Groups as device indices, best member first. */
export interface GroupAssignment {
  readonly groups: readonly (readonly number[])[]
  /** Per group: ms with its best member up. */
  readonly groupMs: readonly number[]
  /** Per group: probability that every member fails. */
  readonly groupFailure: readonly number[]
  /** The slowest group's ms (the request waits for every group). */
  readonly latencyMs: number
  readonly bottleneck: number
  readonly resilienceMet: boolean
}

/** `cost[device][group]`: predicted ms of device answering for group. */
export type CostMatrix = readonly (readonly number[])[]

/** Assigns every device to one of `k` groups; null when there are fewer devices than groups. */
export function assignGroups(
  devices: readonly DeviceSpec[],
  cost: CostMatrix,
  k: number,
  resilienceTarget: number,
): GroupAssignment | null {
  const fastest = bottleneckAssignment(cost, k)
  if (!fastest) return null
  const first = fill(devices, cost, fastest, resilienceTarget)
  if (first.resilienceMet) return first

  // Look for the smallest latency bound under which the target can be met: ascending through
  // the candidate bounds (the greedy fill is not monotone in the bound), then by bisection in
  // very large rooms. First members are tried least reliable first (keeping reliable devices
  // for filling the groups), then fastest first.
  const reliability = devices.map((device) => weight(device.failureProbability))
  const indices = devices.map((_, index) => index)
  const leastReliableFirst = [...indices].sort(
    (a, b) => (reliability[a] ?? 0) - (reliability[b] ?? 0),
  )
  const fastestFirst = [...indices].sort(
    (a, b) => Math.min(...(cost[a] ?? [])) - Math.min(...(cost[b] ?? [])),
  )
  const bounds = [...new Set(cost.flat())]
    .filter((ms) => ms >= first.latencyMs)
    .sort((a, b) => a - b)
  const attemptUnder = (bound: number): GroupAssignment | null => {
    for (const preference of [
      leastReliableFirst,
      fastestFirst,
      [...leastReliableFirst].reverse(),
    ]) {
      const primaries = matchUnder(cost, k, bound, preference)
      const attempt = primaries ? fill(devices, cost, primaries, resilienceTarget) : null
      if (attempt?.resilienceMet) return attempt
    }
    return null
  }
  const scanned = Math.min(bounds.length, LINEAR_SCAN_BOUNDS)
  for (let index = 0; index < scanned; index++) {
    const attempt = attemptUnder(bounds[index] ?? Number.POSITIVE_INFINITY)
    if (attempt) return attempt
  }
  let best: GroupAssignment | null = null
  let low = scanned
  let high = bounds.length - 1
  while (low <= high) {
    const middle = (low + high) >> 1
    const attempt = attemptUnder(bounds[middle] ?? Number.POSITIVE_INFINITY)
    if (attempt) {
      best = attempt
      high = middle - 1
    } else {
      low = middle + 1
    }
  }
  return best ?? first
}

// Bounds tried one by one before bisecting the rest (keeps 1,000-device rooms fast).
const LINEAR_SCAN_BOUNDS = 256
// Slack for sums of logarithms: p = 0.1 and 0.01 do meet a 1e-3 target.
const EPSILON = 1e-9

// -ln p: a group meets the target when its members' weights add up to -ln(target).
const weight = (p: number) => -Math.log(Math.min(1, Math.max(p, 1e-12)))

function fill(
  devices: readonly DeviceSpec[],
  cost: CostMatrix,
  primaries: readonly number[],
  target: number,
): GroupAssignment {
  const need = weight(target)
  const groups = primaries.map((device) => [device])
  const coverage = primaries.map((device) => weight(devices[device]?.failureProbability ?? 1))
  const taken = new Set(primaries)
  const free = devices.map((_, index) => index).filter((index) => !taken.has(index))
  const w = (device: number) => weight(devices[device]?.failureProbability ?? 1)

  // Resilience, as bin covering with best fit decreasing: the most reliable devices first, each
  // to the short group it covers with the least to spare, else to the group furthest short.
  const byReliability = [...free].sort((a, b) => w(b) - w(a))
  for (const device of byReliability) {
    const gaps = coverage.map((covered) => need - covered)
    const short = gaps.map((gap, group) => ({ gap, group })).filter(({ gap }) => gap > EPSILON)
    if (short.length === 0) break
    const covered = short.filter(({ gap }) => w(device) >= gap - EPSILON)
    const target =
      covered.length > 0
        ? covered.reduce((best, entry) => (entry.gap > best.gap ? entry : best))
        : short.reduce((best, entry) => (entry.gap > best.gap ? entry : best))
    free.splice(free.indexOf(device), 1)
    groups[target.group]?.push(device)
    coverage[target.group] = (coverage[target.group] ?? 0) + w(device)
  }
  repairByExchange(groups, coverage, need, w)

  // Stragglers: fastest spare devices first, each to the group whose backup is slowest.
  const fastestFirst = free.sort(
    (a, b) => Math.min(...(cost[a] ?? [])) - Math.min(...(cost[b] ?? [])),
  )
  for (const device of fastestFirst) {
    let target = 0
    let worstBackup = Number.NEGATIVE_INFINITY
    groups.forEach((members, group) => {
      const backup = secondBest(members.map((member) => cost[member]?.[group] ?? 0))
      const gain = backup - (cost[device]?.[group] ?? 0)
      if (backup > worstBackup || (backup === worstBackup && gain > 0)) {
        worstBackup = backup
        target = group
      }
    })
    groups[target]?.push(device)
  }

  const sortedGroups = groups.map((members, group) =>
    [...members].sort((a, b) => (cost[a]?.[group] ?? 0) - (cost[b]?.[group] ?? 0)),
  )
  return evaluate(devices, cost, sortedGroups, target)
}

// Largest group whose member subsets are searched when repairing (bigger rooms rarely need it).
const REPAIR_MAX_MEMBERS = 16

/**
 * Best fit can strand a short group next to one with slack. Exchange up to two non-first
 * members each way between a short group and another, when both then meet the target.
 */
function repairByExchange(
  groups: number[][],
  coverage: number[],
  need: number,
  w: (device: number) => number,
): void {
  const subsets = (members: readonly number[]) => {
    const rest = members.slice(1, 1 + REPAIR_MAX_MEMBERS)
    const result: number[][] = [[]]
    rest.forEach((a, i) => {
      result.push([a])
      for (const b of rest.slice(i + 1)) result.push([a, b])
    })
    return result
  }
  const sum = (devices: readonly number[]) =>
    devices.reduce((total, device) => total + w(device), 0)
  for (let short = 0; short < groups.length; short++) {
    for (let other = 0; other < groups.length && (coverage[short] ?? 0) < need - EPSILON; other++) {
      if (other === short) continue
      const shortGroup = groups[short] ?? []
      const otherGroup = groups[other] ?? []
      exchange: for (const give of subsets(shortGroup)) {
        for (const take of subsets(otherGroup)) {
          const newShort = (coverage[short] ?? 0) - sum(give) + sum(take)
          const newOther = (coverage[other] ?? 0) - sum(take) + sum(give)
          const otherWasMet = (coverage[other] ?? 0) >= need - EPSILON
          if (newShort < need - EPSILON || (otherWasMet && newOther < need - EPSILON)) continue
          groups[short] = [...shortGroup.filter((d) => !give.includes(d)), ...take]
          groups[other] = [...otherGroup.filter((d) => !take.includes(d)), ...give]
          coverage[short] = newShort
          coverage[other] = newOther
          break exchange
        }
      }
    }
  }
}

function secondBest(values: readonly number[]): number {
  if (values.length < 2) return Number.POSITIVE_INFINITY
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[1] ?? Number.POSITIVE_INFINITY
}

/** Scores a grouping (members in any order): latency with best members up, failure, target. */
export function evaluate(
  devices: readonly DeviceSpec[],
  cost: CostMatrix,
  groups: readonly (readonly number[])[],
  target: number,
): GroupAssignment {
  const groupMs = groups.map((members, group) =>
    Math.min(...members.map((member) => cost[member]?.[group] ?? 0)),
  )
  const groupFailure = groups.map((members) =>
    groupFailureProbability(members.map((member) => devices[member]?.failureProbability ?? 1)),
  )
  let bottleneck = 0
  groupMs.forEach((ms, group) => {
    if (ms > (groupMs[bottleneck] ?? 0)) bottleneck = group
  })
  return {
    groups,
    groupMs,
    groupFailure,
    latencyMs: groupMs[bottleneck] ?? 0,
    bottleneck,
    resilienceMet: groupFailure.every((p) => p <= target * (1 + 1e-9)),
  }
}

// A matching of groups to distinct devices with cost <= bound, trying devices in `preference` order.
function matchUnder(
  cost: CostMatrix,
  k: number,
  bound: number,
  preference: readonly number[],
): number[] | null {
  const groupOf = new Map<number, number>()
  const augment = (group: number, seen: Set<number>): boolean => {
    for (const device of preference) {
      if ((cost[device]?.[group] ?? Number.POSITIVE_INFINITY) > bound || seen.has(device)) continue
      seen.add(device)
      const holder = groupOf.get(device)
      if (holder === undefined || augment(holder, seen)) {
        groupOf.set(device, group)
        return true
      }
    }
    return false
  }
  for (let group = 0; group < k; group++) if (!augment(group, new Set())) return null
  const deviceOf = new Array<number>(k).fill(-1)
  for (const [device, group] of groupOf) deviceOf[group] = device
  return deviceOf
}
