import type { Mesh } from '@cohort/mesh'
import {
  CohortError,
  type DeviceId,
  type EnsembleGroup,
  err,
  findModel,
  type Manifest,
  ok,
  type Plan,
  type Result,
  RUN_MODEL_METHOD,
  type RunModelParams,
  type Tensor,
} from '@cohort/protocol'
import { firstAnswer } from './first-answer.ts'
import type { Float32TensorData, ModelRunner } from './model-runner.ts'
import type { OutcomeTracker } from './outcome-tracker.ts'

/** `all`: every member of a group at once. `hedged`: the best member, the next one if it is late. */
export type Redundancy = 'all' | 'hedged'

/** Options of one ensemble request. */
export interface EnsembleRequestOptions {
  readonly redundancy: Redundancy
  /** Groups that have not answered by then are imputed and the answer is marked degraded. */
  readonly deadlineMs: number
  readonly signal?: AbortSignal
}

/** Which device's answer was used for a slice, and how long it took. */
export interface SliceWinner {
  readonly slice: number
  readonly deviceId: DeviceId
  /** From sending the input to receiving the slice, as the requester saw it. */
  readonly ms: number
  /** The device's own compute time (its worker's session.run), as it reported it. */
  readonly computeMs: number
}

/** An ensemble answer. */
export interface EnsembleAnswer {
  readonly prediction: number
  readonly logits: Float32Array
  /** The slices the combiner was given, in order; an imputed one is its training mean. */
  readonly slices: readonly Float32Array[]
  /** True when a slice was imputed because its group did not answer in time. */
  readonly degraded: boolean
  readonly missingSlices: readonly number[]
  readonly winners: readonly SliceWinner[]
  readonly latencyMs: number
  readonly planVersion: number
  readonly k: number
}

/** What the requester needs. */
export interface EnsembleDependencies {
  readonly request: Mesh['request']
  /** Runs the combiner locally (it is tiny). */
  readonly combiner: ModelRunner
  readonly manifest: Manifest
  readonly tracker: OutcomeTracker
  readonly now?: () => number
  /**
   * Resolves true once a link to one of these members that is closed now opens (false when the
   * signal ends first): a group whose every member was unreachable is asked again when one comes
   * back, within the deadline. Without it, such a group has no answer at once.
   */
  readonly whenReachable?: (members: readonly DeviceId[], signal: AbortSignal) => Promise<boolean>
}

/** Before a member has history, hedging waits this multiple of the group's predicted time. */
const HEDGE_PREDICTION_FACTOR = 2
/** …and never less than this, so scheduling noise does not double the load. */
const MIN_HEDGE_MS = 5
/**
 * …and never more than this share of the time left: members whose history is slow (a loaded
 * join) or who died silently must not use up the deadline one after another, so however long a
 * group is, its later members are still asked in time to answer.
 */
export const MAX_HEDGE_SHARE_OF_TIME_LEFT = 0.25

interface SliceAnswer {
  readonly data: Float32Array
  readonly deviceId: DeviceId
  readonly ms: number
  readonly computeMs: number
}

/**
 * RoCoIn inference: the input goes to every group of the plan; the first answer per group wins
 * and the group's other requests are cancelled; the combiner maps the slices to class scores.
 * A group with no answer by the deadline is imputed with its slice's training mean and the
 * answer is marked degraded. Exactly one outcome: an answer, or a typed error when no group
 * answered at all (there is nothing to combine) or the plan has no ensemble.
 */
export async function inferEnsemble(
  deps: EnsembleDependencies,
  plan: Plan,
  input: Float32Array,
  options: EnsembleRequestOptions,
): Promise<Result<EnsembleAnswer, CohortError>> {
  const now = deps.now ?? (() => performance.now())
  const startedAt = now()
  const ensemble = plan.ensemble
  if (!ensemble)
    return err(
      new CohortError('no-plan', 'the room has no ensemble plan yet (no profiled devices)'),
    )
  const set = deps.manifest.ensembles.find((candidate) => candidate.k === ensemble.k)
  const combinerEntry = set ? findModel(deps.manifest, set.combiner) : undefined
  if (!set || !combinerEntry) {
    return err(
      new CohortError(
        'no-plan',
        `the plan uses K=${ensemble.k}, which task ${deps.manifest.task} does not ship`,
      ),
    )
  }
  if (options.signal?.aborted)
    return err(new CohortError('cancelled', 'cancelled before it started'))

  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(), options.deadlineMs)
  const onCancel = () => deadline.abort()
  options.signal?.addEventListener('abort', onCancel, { once: true })
  const shape = deps.manifest.input.shape.map((dim) => (dim === 'batch' ? 1 : dim))
  const tensor: Tensor = {
    name: deps.manifest.input.name,
    dtype: 'float32',
    dims: shape,
    data: input,
  }
  try {
    const answers = await Promise.all(
      ensemble.groups.map((group) =>
        askGroup(
          deps,
          group,
          tensor,
          options.redundancy,
          deadline.signal,
          startedAt + options.deadlineMs,
          now,
        ),
      ),
    )
    if (options.signal?.aborted)
      return err(new CohortError('cancelled', 'the ensemble request was cancelled'))
    const missingSlices = answers.flatMap((answer, slice) => (answer ? [] : [slice]))
    if (missingSlices.length === answers.length) {
      // Every member failing before the deadline is not a timeout: say what it was.
      return err(
        deadline.signal.aborted
          ? new CohortError('timeout', `no group answered within ${options.deadlineMs} ms`)
          : new CohortError(
              'not-connected',
              `no member of any group could be reached (${now() - startedAt} ms of ${options.deadlineMs})`,
            ),
      )
    }
    const inputs: Record<string, Float32TensorData> = {}
    const slices = combinerEntry.inputs.map((spec, slice) => {
      const data = answers[slice]?.data ?? Float32Array.from(set.imputationMeans[slice] ?? [])
      inputs[spec.name] = { data, dims: [1, data.length] }
      return data
    })
    const combined = await deps.combiner.run(combinerEntry.id, inputs)
    const logits = combined.outputs[combinerEntry.outputs[0]?.name ?? 'logits']?.data
    if (!logits) return err(new CohortError('internal', `${combinerEntry.id} returned no logits`))
    return ok({
      prediction: argmax(logits),
      logits,
      slices,
      degraded: missingSlices.length > 0,
      missingSlices,
      winners: answers.flatMap((answer, slice) =>
        answer
          ? [{ slice, deviceId: answer.deviceId, ms: answer.ms, computeMs: answer.computeMs }]
          : [],
      ),
      latencyMs: now() - startedAt,
      planVersion: plan.version,
      k: ensemble.k,
    })
  } catch (error) {
    return err(new CohortError('internal', `ensemble request failed: ${String(error)}`))
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onCancel)
  }
}

/** One group's slice: the first member's answer wins (all asked at once, or hedged). */
async function askGroup(
  deps: EnsembleDependencies,
  group: EnsembleGroup,
  tensor: Tensor,
  redundancy: Redundancy,
  deadline: AbortSignal,
  deadlineAt: number,
  now: () => number,
): Promise<SliceAnswer | null> {
  const studentEntry = findModel(deps.manifest, group.student)
  const outputName = studentEntry?.outputs[0]?.name ?? 'slice'
  for (;;) {
    const winner = await raceGroup(
      deps,
      group,
      tensor,
      redundancy,
      deadline,
      deadlineAt,
      now,
      outputName,
    )
    if (winner || deadline.aborted || !deps.whenReachable) return winner
    // Every member failed at once (links down: a blip, a replan, a host that stalled): ask again
    // as soon as one of them is back, while the deadline allows.
    if (!(await deps.whenReachable(group.members, deadline))) return null
  }
}

/** One race over a group's members: the first answer, or null. */
async function raceGroup(
  deps: EnsembleDependencies,
  group: EnsembleGroup,
  tensor: Tensor,
  redundancy: Redundancy,
  deadline: AbortSignal,
  deadlineAt: number,
  now: () => number,
  outputName: string,
): Promise<SliceAnswer | null> {
  const members = deps.tracker.leastLoadedFirst(group.members)
  const outcome = await firstAnswer<SliceAnswer>({
    members,
    signal: deadline,
    windowIsMiss: false,
    // Hedged: the next member is asked once this one is slower than it usually is.
    staggerMs: (member) => {
      // All: the fanout at once; past it (a large group), members are hedges like below.
      if (redundancy === 'all' && member + 1 < group.fanout) return 0
      const deviceId = members[member]
      const p95 = deviceId === undefined ? null : deps.tracker.p95(deviceId)
      const usual = Math.max(MIN_HEDGE_MS, p95 ?? group.predictedMs * HEDGE_PREDICTION_FACTOR)
      return Math.min(usual, (deadlineAt - now()) * MAX_HEDGE_SHARE_OF_TIME_LEFT)
    },
    attempt: async (deviceId, _member, signal) => {
      const sentAt = now()
      deps.tracker.sent(deviceId)
      const reply = await deps
        .request(deviceId, RUN_MODEL_METHOD, [tensor], {
          deadlineMs: Math.max(1, deadlineAt - sentAt),
          signal,
          payload: { model: group.student } satisfies RunModelParams,
        })
        .finally(() => deps.tracker.settled(deviceId))
      const frame = reply.ok
        ? reply.value.frames.find((candidate) => candidate.name === outputName)
        : undefined
      if (reply.ok && frame?.dtype === 'float32') {
        // Every answer teaches the tracker, the losers' late ones too.
        const ms = now() - sentAt
        deps.tracker.answered(deviceId, ms)
        const computeMs = reply.value.timings.computeMs ?? Number.NaN
        return ok({ data: frame.data, deviceId, ms, computeMs })
      }
      // A member cancelled because another one won is no failure; one cut off by the deadline is.
      const lost =
        signal.aborted && !deadline.aborted && !reply.ok && reply.error.code === 'cancelled'
      if (!lost) deps.tracker.missed(deviceId)
      return err(
        reply.ok ? `${group.student} answered without a float32 ${outputName}` : reply.error,
      )
    },
  })
  if (!outcome.winner) return null
  deps.tracker.won(outcome.winner.deviceId)
  return outcome.winner.value
}

/** Index of the largest value. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if ((values[i] ?? 0) > (values[best] ?? 0)) best = i
  return best
}
