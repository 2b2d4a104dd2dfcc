/**
 * Picks one distinct device per group so that the largest cost is as small as possible
 * (the bottleneck assignment problem), exactly.
 *
 * `cost[device][group]`. Returns the device index of each group, or null when there are fewer
 * devices than groups. `eligible` may exclude devices. Ties prefer devices earlier in
 * `preference` (a device order), so callers can keep some devices free for other roles.
 */
export function bottleneckAssignment(
  cost: readonly (readonly number[])[],
  groups: number,
  preference?: readonly number[],
): number[] | null {
  const order = preference ?? cost.map((_, device) => device)
  if (order.length < groups) return null
  // In an optimal assignment each group can use one of its `groups` cheapest devices: if it
  // used another, one of those is free and no worse. So only these candidates matter.
  const candidates: number[][] = []
  for (let group = 0; group < groups; group++) {
    const sorted = [...order].sort((a, b) => (cost[a]?.[group] ?? 0) - (cost[b]?.[group] ?? 0))
    candidates.push(sorted.slice(0, groups))
  }
  const thresholds = [
    ...new Set(candidates.flatMap((list, group) => list.map((d) => cost[d]?.[group] ?? 0))),
  ].sort((a, b) => a - b)
  let low = 0
  let high = thresholds.length - 1
  let best: number[] | null = null
  while (low <= high) {
    const middle = (low + high) >> 1
    const matching = matchWithin(cost, candidates, thresholds[middle] ?? 0, order)
    if (matching) {
      best = matching
      high = middle - 1
    } else {
      low = middle + 1
    }
  }
  return best
}

// Kuhn's augmenting paths on the candidate graph, edges with cost <= limit.
function matchWithin(
  cost: readonly (readonly number[])[],
  candidates: readonly number[][],
  limit: number,
  order: readonly number[],
): number[] | null {
  const rank = new Map(order.map((device, index) => [device, index]))
  const edges = candidates.map((list, group) =>
    list
      .filter((d) => (cost[d]?.[group] ?? 0) <= limit)
      .sort((a, b) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0)),
  )
  const groupOf = new Map<number, number>()
  const augment = (group: number, seen: Set<number>): boolean => {
    for (const device of edges[group] ?? []) {
      if (seen.has(device)) continue
      seen.add(device)
      const holder = groupOf.get(device)
      if (holder === undefined || augment(holder, seen)) {
        groupOf.set(device, group)
        return true
      }
    }
    return false
  }
  for (let group = 0; group < candidates.length; group++) {
    if (!augment(group, new Set())) return null
  }
  const assignment = new Array<number>(candidates.length).fill(-1)
  for (const [device, group] of groupOf) assignment[group] = device
  return assignment
}
