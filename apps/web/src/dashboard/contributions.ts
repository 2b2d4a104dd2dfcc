/** Runs the combiner (the teacher's linear head) on K slices; resolves with its class scores. */
export type Combine = (slices: readonly Float32Array[]) => Promise<Float32Array>

/** How each group's slice moved the class scores of one ensemble answer. */
export interface Contributions {
  /** Scores with every slice replaced by its training mean: the head knowing nothing of the input. */
  readonly baseline: number[]
  /** Per slice (group): scores with all slices minus scores with this slice replaced by its mean. */
  readonly perSlice: number[][]
  /** The answer's scores (every slice as the combiner was given it). */
  readonly logits: number[]
}

/** One line for the UI: what a contribution is. */
export const CONTRIBUTION_EXPLANATION =
  "A group's contribution is how much each class score drops when its slice is replaced by the slice's training mean; the head is linear, so the no-input baseline plus every group's contribution is the answer's scores."

/**
 * Splits an ensemble answer's scores into a baseline and one contribution per group. With the
 * linear head z = W·[s_1 … s_K] + b, the contribution of slice j is W_j·(s_j − μ_j), and
 * baseline + Σ_j contribution_j = z exactly; the combiner is run, not W read, so the split
 * holds for whatever head the manifest ships (and shows it when it does not).
 */
export async function sliceContributions(
  combine: Combine,
  slices: readonly Float32Array[],
  means: readonly Float32Array[],
): Promise<Contributions> {
  if (means.length !== slices.length)
    throw new Error(`${slices.length} slices but ${means.length} imputation means`)
  const logits = await combine(slices)
  const baseline = await combine(means)
  const perSlice: number[][] = []
  for (let j = 0; j < slices.length; j++) {
    const without = await combine(slices.map((slice, i) => (i === j ? (means[j] ?? slice) : slice)))
    perSlice.push(Array.from(logits, (score, c) => score - (without[c] ?? 0)))
  }
  return { baseline: Array.from(baseline), perSlice, logits: Array.from(logits) }
}
