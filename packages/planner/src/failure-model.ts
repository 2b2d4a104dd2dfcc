/** Failure probability assumed for a device never observed (ALGORITHMS.md: a prior such as 0.05). */
export const DEFAULT_FAILURE_PRIOR = 0.05

/** How many observations the prior is worth. */
export const PRIOR_WEIGHT = 20

/**
 * A device's failure probability from its record: the Beta-Bernoulli posterior mean, so one
 * miss on a new device does not condemn it and a long clean record earns trust.
 */
export function estimateFailureProbability(
  requests: number,
  misses: number,
  prior = DEFAULT_FAILURE_PRIOR,
  priorWeight = PRIOR_WEIGHT,
): number {
  return (misses + prior * priorWeight) / (requests + priorWeight)
}

/** Probability that every member of a group fails on one request (failures independent). */
export function groupFailureProbability(memberFailureProbabilities: readonly number[]): number {
  return memberFailureProbabilities.reduce((product, p) => product * p, 1)
}

/** Smallest number of members with failure probability `p` whose group meets `target`. */
/**
 * How many of a group's members, best first, an "all" request asks at once: the fewest whose
 * failing together is within `target` (at least 2 when there are 2, for Cohort's promise that
 * one crash never costs an answer), or every member when even all of them miss it.
 */
export function fanoutOf(failureProbabilities: readonly number[], target: number): number {
  const floor = Math.min(2, failureProbabilities.length)
  let together = 1
  for (const [index, p] of failureProbabilities.entries()) {
    together *= p
    if (index + 1 >= floor && together <= target * (1 + 1e-9)) return index + 1
  }
  return Math.max(1, failureProbabilities.length)
}

export function replicasNeeded(p: number, target: number): number {
  if (p <= 0) return 1
  if (p >= 1) return Number.POSITIVE_INFINITY
  return Math.max(1, Math.ceil(Math.log(target) / Math.log(p) - 1e-9))
}
