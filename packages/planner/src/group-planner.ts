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
    // Fixed orders first, then seeded shuffles: deterministic, and they rescue the rare small
    // rooms where every fixed greedy order strands a group.
    const random = seededRandom(k * 7919 + devices.length)
    const orders = [leastReliableFirst, fastestFirst, [...leastReliableFirst].reverse()]
    for (let extra = 0; extra < SHUFFLED_ORDERS; extra++) orders.push(shuffled(indices, random))
    for (const preference of orders) {
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

// Costs within this share of each other count as equal when a straggler is placed.
const BACKUP_TIE = 0.02

// Bounds tried one by one before bisecting the rest (keeps 1,000-device rooms fast).
const LINEAR_SCAN_BOUNDS = 256
// Slack for sums of logarithms: p = 0.1 and 0.01 do meet a 1e-3 target.
const EPSILON = 1e-9

// Extra primary orders tried per bound when the fixed ones fail.
const SHUFFLED_ORDERS = 12
// Extra fill orders tried per set of first members when the fixed strategies fail.
const SHUFFLED_FILLS = 6

/** A small deterministic PRNG (mulberry32), so the same room always gets the same plan. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

function shuffled(items: readonly number[], random: () => number): number[] {
  const result = [...items]
  for (let i = result.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const swap = result[i] ?? 0
    result[i] = result[j] ?? 0
    result[j] = swap
  }
  return result
}

// -ln p: a group meets the target when its members' weights add up to -ln(target).
const weight = (p: number) => -Math.log(Math.min(1, Math.max(p, 1e-12)))

/** Two greedy ways to cover the groups' shortfalls; each solves cases the other misses. */
type FillStrategy = 'device-first' | 'group-first'
const FILL_STRATEGIES: readonly FillStrategy[] = ['device-first', 'group-first']

/** Fills with each strategy and keeps the first grouping that meets the target (else the last). */
function fill(
  devices: readonly DeviceSpec[],
  cost: CostMatrix,
  primaries: readonly number[],
  target: number,
): GroupAssignment {
  let result: GroupAssignment | null = null
  for (const strategy of FILL_STRATEGIES) {
    result = fillWith(strategy, devices, cost, primaries, target)
    if (result.resilienceMet) return result
  }
  // Device-first in shuffled orders: best fit decreasing is not optimal for bin covering.
  const random = seededRandom(primaries.reduce((seed, device) => seed * 31 + device, 17))
  for (let attempt = 0; attempt < SHUFFLED_FILLS; attempt++) {
    result = fillWith('device-first', devices, cost, primaries, target, random)
    if (result.resilienceMet) return result
  }
  return result ?? fillWith('device-first', devices, cost, primaries, target)
}

function fillWith(
  strategy: FillStrategy,
  devices: readonly DeviceSpec[],
  cost: CostMatrix,
  primaries: readonly number[],
  target: number,
  random?: () => number,
): GroupAssignment {
  const need = weight(target)
  const groups = primaries.map((device) => [device])
  const coverage = primaries.map((device) => weight(devices[device]?.failureProbability ?? 1))
  const taken = new Set(primaries)
  const free = devices.map((_, index) => index).filter((index) => !taken.has(index))
  const w = (device: number) => weight(devices[device]?.failureProbability ?? 1)
  const place = (device: number, group: number) => {
    free.splice(free.indexOf(device), 1)
    groups[group]?.push(device)
    coverage[group] = (coverage[group] ?? 0) + w(device)
  }
  const shortGroups = () =>
    coverage
      .map((covered, group) => ({ gap: need - covered, group }))
      .filter(({ gap }) => gap > EPSILON)
  const largestGap = <T extends { gap: number }>(entries: readonly T[]) =>
    entries.reduce((best, entry) => (entry.gap > best.gap ? entry : best))

  if (strategy === 'device-first') {
    // Bin covering, best fit decreasing: the most reliable devices first, each to the largest
    // shortfall it covers on its own, else to the group furthest short.
    const order = random ? shuffled(free, random) : [...free].sort((a, b) => w(b) - w(a))
    for (const device of order) {
      const short = shortGroups()
      if (short.length === 0) break
      const covered = short.filter(({ gap }) => w(device) >= gap - EPSILON)
      place(device, largestGap(covered.length > 0 ? covered : short).group)
    }
  } else {
    // The group furthest short takes the least reliable device that covers it, else the most reliable.
    for (let short = shortGroups(); short.length > 0 && free.length > 0; short = shortGroups()) {
      const { gap, group } = largestGap(short)
      const fitting = free.filter((device) => w(device) >= gap - EPSILON)
      const pick =
        fitting.length > 0
          ? fitting.reduce((best, device) => (w(device) < w(best) ? device : best))
          : free.reduce((best, device) => (w(device) > w(best) ? device : best))
      place(pick, group)
    }
  }
  repairByExchange(groups, coverage, need, w)

  // Stragglers: fastest spare devices first, each to the group whose backup (second-best
  // member) is slowest. Among groups whose backups are as slow (within BACKUP_TIE), the one it
  // answers fastest for (where it has the student loaded), then the smallest: equal devices
  // spread evenly instead of all joining the first group. The two best costs per group are kept
  // as devices arrive.
  const best = groups.map((members, group) =>
    twoSmallest(members.map((member) => cost[member]?.[group] ?? 0)),
  )
  const fastestCost = new Map(free.map((device) => [device, Math.min(...(cost[device] ?? []))]))
  const fastestFirst = free.sort((a, b) => (fastestCost.get(a) ?? 0) - (fastestCost.get(b) ?? 0))
  for (const device of fastestFirst) {
    const slowest = Math.max(...best.map(([, backup]) => backup))
    let target = -1
    best.forEach(([, backup], group) => {
      const tied = backup === slowest || backup >= slowest * (1 - BACKUP_TIE)
      if (!tied) return
      if (target < 0) {
        target = group
        return
      }
      const mine = cost[device]?.[group] ?? 0
      const theirs = cost[device]?.[target] ?? 0
      const smaller = (groups[group]?.length ?? 0) < (groups[target]?.length ?? 0)
      const faster = mine < theirs * (1 - BACKUP_TIE)
      const asFast = !faster && theirs >= mine * (1 - BACKUP_TIE)
      if (faster || (asFast && smaller)) target = group
    })
    groups[target]?.push(device)
    const ms = cost[device]?.[target] ?? 0
    const current = best[target] ?? [ms, ms]
    best[target] = ms < current[0] ? [ms, current[0]] : [current[0], Math.min(current[1], ms)]
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

/** The smallest and second-smallest values (Infinity where missing). */
function twoSmallest(values: readonly number[]): [number, number] {
  let first = Number.POSITIVE_INFINITY
  let second = Number.POSITIVE_INFINITY
  for (const value of values) {
    if (value < first) {
      second = first
      first = value
    } else if (value < second) second = value
  }
  return [first, second]
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
