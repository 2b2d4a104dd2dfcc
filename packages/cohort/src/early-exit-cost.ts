import type { Manifest } from '@cohort/protocol'

/**
 * Early-exit cost accounting, in the manifest's terms (training/README.md): a request costs
 * lambda per million MACs of every segment it ran, plus `offload` for every hop to a further tier;
 * cloud-only (every sample sent to one device that runs the whole backbone) costs one offload plus
 * all MACs. The room's cost reduction is 1 - mean cost / cloud-only.
 */

/** The manifest's cost model. */
export interface CostModel {
  readonly lambdaPerMMac: number
  readonly offload: number
  readonly segmentMacs: readonly number[]
  readonly cloudOnly: number
}

/** The task's cost model. */
export function costModelFromManifest(manifest: Manifest): CostModel {
  const { lambdaPerMMac, offload, segmentMacs, cloudOnly } = manifest.earlyExit.cost
  return { lambdaPerMMac, offload, segmentMacs, cloudOnly }
}

/** Cost of a request that ran the first `segmentsRun` segments and made `offloads` hops. */
export function requestCost(model: CostModel, segmentsRun: number, offloads: number): number {
  let macs = 0
  for (let i = 0; i < segmentsRun; i++) macs += model.segmentMacs[i] ?? 0
  return (model.lambdaPerMMac * macs) / 1e6 + model.offload * offloads
}

/** One answered request, as the tally sees it. */
export interface TalliedRequest {
  readonly exitIndex: number
  readonly correct: boolean
  readonly cost: number
  readonly bytes: number
  readonly offloads: number
  readonly failovers: number
  readonly degraded: boolean
  readonly deadlineExit: boolean
  readonly macsPerSegment: readonly number[]
}

/** A run's early-exit figures. */
export interface EarlyExitSummary {
  readonly answered: number
  /** % of answered requests whose prediction was right; null before any. */
  readonly accuracy: number | null
  /** Requests per exit, and the same as shares of the answered ones. */
  readonly exitCounts: readonly number[]
  readonly exitFractions: readonly number[]
  readonly meanCost: number | null
  /** 1 - mean cost / cloud-only; null before any answer. */
  readonly costReduction: number | null
  readonly bytes: number
  readonly meanBytes: number | null
  readonly offloads: number
  readonly failovers: number
  readonly degraded: number
  readonly deadlineExits: number
  /** MACs run per tier over the run. */
  readonly macsPerSegment: readonly number[]
}

/** Sums a run's answered requests. */
export function summarizeEarlyExit(
  model: CostModel,
  requests: readonly TalliedRequest[],
): EarlyExitSummary {
  const segments = model.segmentMacs.length
  const exitCounts = new Array<number>(segments).fill(0)
  const macsPerSegment = new Array<number>(segments).fill(0)
  let correct = 0
  let cost = 0
  let bytes = 0
  let offloads = 0
  let failovers = 0
  let degraded = 0
  let deadlineExits = 0
  for (const request of requests) {
    exitCounts[request.exitIndex] = (exitCounts[request.exitIndex] ?? 0) + 1
    request.macsPerSegment.forEach((macs, index) => {
      macsPerSegment[index] = (macsPerSegment[index] ?? 0) + macs
    })
    if (request.correct) correct++
    cost += request.cost
    bytes += request.bytes
    offloads += request.offloads
    failovers += request.failovers
    if (request.degraded) degraded++
    if (request.deadlineExit) deadlineExits++
  }
  const n = requests.length
  const meanCost = n === 0 ? null : cost / n
  return {
    answered: n,
    accuracy: n === 0 ? null : (100 * correct) / n,
    exitCounts,
    exitFractions: exitCounts.map((count) => (n === 0 ? 0 : count / n)),
    meanCost,
    costReduction: meanCost === null ? null : 1 - meanCost / model.cloudOnly,
    bytes,
    meanBytes: n === 0 ? null : bytes / n,
    offloads,
    failovers,
    degraded,
    deadlineExits,
    macsPerSegment,
  }
}
