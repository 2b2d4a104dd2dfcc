import { type CostMatrix, evaluate, type GroupAssignment } from './group-planner.ts'
import type { DeviceSpec } from './latency-model.ts'

/** Largest room the oracle accepts: k^n assignments are enumerated. */
export const BRUTE_FORCE_MAX_DEVICES = 8

/**
 * The best grouping by exhaustive search, for checking the heuristic on small rooms: every
 * assignment of devices to `k` non-empty groups, ranked by resilience met, then latency, then
 * the worst group's failure probability.
 */
export function bruteForceGroups(
  devices: readonly DeviceSpec[],
  cost: CostMatrix,
  k: number,
  resilienceTarget: number,
): GroupAssignment | null {
  const n = devices.length
  if (n < k) return null
  if (n > BRUTE_FORCE_MAX_DEVICES)
    throw new RangeError(`brute force takes at most ${BRUTE_FORCE_MAX_DEVICES} devices`)
  const groupOf = new Array<number>(n).fill(0)
  let best: GroupAssignment | null = null
  const total = k ** n
  for (let code = 0; code < total; code++) {
    let rest = code
    for (let device = 0; device < n; device++) {
      groupOf[device] = rest % k
      rest = Math.floor(rest / k)
    }
    const groups: number[][] = Array.from({ length: k }, () => [])
    groupOf.forEach((group, device) => {
      groups[group]?.push(device)
    })
    if (groups.some((members) => members.length === 0)) continue
    const candidate = evaluate(devices, cost, groups, resilienceTarget)
    if (!best || better(candidate, best)) best = candidate
  }
  return best
}

function better(a: GroupAssignment, b: GroupAssignment): boolean {
  if (a.resilienceMet !== b.resilienceMet) return a.resilienceMet
  if (a.latencyMs !== b.latencyMs) return a.latencyMs < b.latencyMs
  return Math.max(...a.groupFailure) < Math.max(...b.groupFailure)
}
