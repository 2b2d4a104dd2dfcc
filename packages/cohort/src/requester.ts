import type { Mesh } from '@cohort/mesh'
import {
  CohortError,
  type DeviceId,
  err,
  type Manifest,
  ok,
  type Result,
  singleModelDevice,
} from '@cohort/protocol'
import { type EarlyExitAnswer, inferEarlyExit } from './early-exit-requester.ts'
import { type EnsembleAnswer, inferEnsemble, type Redundancy } from './ensemble-requester.ts'
import type { ModelRunner } from './model-runner.ts'
import { OutcomeTracker } from './outcome-tracker.ts'
import { inferSingle, type SingleAnswer } from './single-requester.ts'

/** How a request is answered: one whole model, the RoCoIn ensemble, or the early-exit chain. */
export type InferMode = 'single' | 'ensemble' | 'early-exit'

/** Options of one request. Everything but the input has a default. */
export interface InferOptions {
  /** 'ensemble' by default. */
  readonly mode?: InferMode
  /** Ensemble: every member of a group at once ('all', the default) or the best one, hedged. */
  readonly redundancy?: Redundancy
  /** The answer is due this many ms after the request starts (default 2,000). */
  readonly deadlineMs?: number
  /** Ensemble: answer only with this K (a typed `no-plan` error while the room plans another). */
  readonly k?: number
  /** Single: the device that answers (default: the plan's strongest) and its model (the teacher). */
  readonly deviceId?: DeviceId
  readonly model?: string
  /** Early exit: alpha per exit but the last (default: the plan's calibrated ones). */
  readonly thresholds?: readonly number[]
  readonly signal?: AbortSignal
}

/** Options of a stream: a request's options, and how many may be in flight at once. */
export interface StreamOptions extends InferOptions {
  /** Requests in flight at most (default 4, at most MAX_WINDOW). */
  readonly window?: number
}

/** One answer, tagged with the mode that produced it. */
export type Answer =
  | ({ readonly mode: 'single' } & SingleAnswer)
  | ({ readonly mode: 'ensemble' } & EnsembleAnswer)
  | ({ readonly mode: 'early-exit' } & EarlyExitAnswer)

/** Exactly one of these per request: an answer (possibly degraded) or a typed error. */
export type Outcome = Result<Answer, CohortError>

/** What a requester needs of a joined mesh. */
export type RequesterMesh = Pick<Mesh, 'request' | 'plan' | 'peers' | 'whenAnyOpens'>

/** What a requester is built from. */
export interface RequesterOptions {
  readonly mesh: RequesterMesh
  /** The local runtime: the ensemble's combiner and early exit's first segment run here. */
  readonly runner: ModelRunner
  readonly manifest: Manifest
  /** Shared with whoever reports device failures to the coordinator (a fresh one by default). */
  readonly tracker?: OutcomeTracker
  readonly now?: () => number
}

export const DEFAULT_DEADLINE_MS = 2_000
export const DEFAULT_WINDOW = 4
/** A stream keeps at most this many requests in flight, whatever it is asked. */
export const MAX_WINDOW = 64

/**
 * The one way to send work to a room. Built once from a joined mesh, the local runtime and the
 * manifest; `infer` may be called many times at once, and `stream` keeps a bounded window of
 * requests in flight. Each request reads the room's plan when it starts, so a replan takes effect
 * for the next request while those in flight finish on the plan they started with.
 */
export class Requester {
  readonly tracker: OutcomeTracker
  readonly manifest: Manifest
  #inFlight = 0
  /** Float32 values in one input (batch 1), from the manifest once. */
  readonly #inputLength: number

  constructor(private readonly options: RequesterOptions) {
    this.tracker = options.tracker ?? new OutcomeTracker()
    this.manifest = options.manifest
    this.#inputLength = options.manifest.input.shape.reduce<number>(
      (size, dim) => size * (dim === 'batch' ? 1 : dim),
      1,
    )
  }

  /** Requests started and not yet answered. */
  get inFlight(): number {
    return this.#inFlight
  }

  /** One request; resolves with exactly one outcome, never rejects. */
  async infer(input: Float32Array, options: InferOptions = {}): Promise<Outcome> {
    const expected = this.#inputLength
    if (!(input instanceof Float32Array) || input.length !== expected) {
      return err(
        new CohortError(
          'bad-input',
          `an input of ${this.manifest.task} is ${expected} float32 values (got ${input?.length ?? 'none'})`,
        ),
      )
    }
    this.#inFlight++
    try {
      return await this.dispatch(input, options)
    } catch (error) {
      return err(new CohortError('internal', `the request failed: ${String(error)}`))
    } finally {
      this.#inFlight--
    }
  }

  /**
   * Streams `inputs` through the room, at most `window` requests in flight, and yields their
   * outcomes in input order. Backpressure: a new request starts only when the consumer has taken
   * an outcome and the window has room, so a slow consumer slows the stream instead of queueing
   * answers. Stopping early (break, return, a thrown error) cancels the requests still in flight.
   */
  async *stream(
    inputs: Iterable<Float32Array> | AsyncIterable<Float32Array>,
    options: StreamOptions = {},
  ): AsyncGenerator<Outcome, void, undefined> {
    const asked = Math.floor(options.window ?? DEFAULT_WINDOW)
    const window = Number.isFinite(asked)
      ? Math.max(1, Math.min(MAX_WINDOW, asked))
      : DEFAULT_WINDOW
    const stop = new AbortController()
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal
    const iterator =
      Symbol.asyncIterator in inputs
        ? inputs[Symbol.asyncIterator]()
        : (inputs as Iterable<Float32Array>)[Symbol.iterator]()
    const pending: Promise<Outcome>[] = []
    /** The source's next input, asked for and not yet arrived (a slow source must not hold answers). */
    let next: Promise<IteratorResult<Float32Array>> | null = null
    let exhausted = false
    let sourceFailed: { error: unknown } | null = null
    const take = (result: IteratorResult<Float32Array>) => {
      next = null
      if (result.done) exhausted = true
      else pending.push(this.infer(result.value, { ...options, signal }))
    }
    try {
      for (;;) {
        // Top the window up; while answers are in flight, an input that is slow to come does not
        // hold back the oldest answer. A cancelled stream asks its source for nothing more.
        while (!exhausted && pending.length < window && !signal.aborted) {
          try {
            next ??= Promise.resolve(iterator.next())
            if (pending.length === 0) {
              take(await next)
              continue
            }
            const head = pending[0] as Promise<Outcome>
            const first = await Promise.race([
              next.then((result) => ({ result })),
              head.then(() => null),
            ])
            if (first === null) break
            take(first.result)
          } catch (error) {
            // The source failed: what was started is still answered, then its error is thrown.
            next = null
            exhausted = true
            sourceFailed = { error }
          }
        }
        const head = pending.shift()
        if (!head) break
        yield await head
      }
      if (sourceFailed) throw sourceFailed.error
    } finally {
      stop.abort()
      await Promise.all(pending)
      if (!exhausted) await Promise.resolve(iterator.return?.()).catch(() => undefined)
    }
  }

  private async dispatch(input: Float32Array, options: InferOptions): Promise<Outcome> {
    const { mesh, runner, now } = this.options
    const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS
    const plan = mesh.plan
    const request: Mesh['request'] = (...args) => mesh.request(...args)
    const timing = now ? { now } : {}
    switch (options.mode ?? 'ensemble') {
      case 'ensemble': {
        if (!plan) return err(noPlan())
        if (options.k !== undefined && plan.ensemble && plan.ensemble.k !== options.k) {
          return err(
            new CohortError(
              'no-plan',
              `the room plans K=${plan.ensemble.k}; this request asks for K=${options.k}`,
            ),
          )
        }
        const answer = await inferEnsemble(
          {
            request,
            combiner: runner,
            manifest: this.manifest,
            tracker: this.tracker,
            whenReachable: (members, signal) => mesh.whenAnyOpens(members, signal),
            ...timing,
          },
          plan,
          input,
          {
            redundancy: options.redundancy ?? 'all',
            deadlineMs,
            ...(options.signal ? { signal: options.signal } : {}),
          },
        )
        return answer.ok ? ok({ mode: 'ensemble', ...answer.value }) : answer
      }
      case 'single': {
        const deviceId = options.deviceId ?? (plan ? singleModelDevice(plan) : undefined)
        if (!deviceId) return err(noPlan())
        const answer = await inferSingle(request, this.manifest, input, {
          deviceId,
          modelId: options.model ?? this.manifest.teacher.model,
          deadlineMs,
          ...(options.signal ? { signal: options.signal } : {}),
        })
        if (answer.ok) this.tracker.won(deviceId)
        return answer.ok ? ok({ mode: 'single', ...answer.value }) : answer
      }
      case 'early-exit': {
        const answer = await inferEarlyExit(
          {
            request,
            runner,
            manifest: this.manifest,
            tracker: this.tracker,
            rttMs: (deviceId) =>
              mesh.peers().find((peer) => peer.info.deviceId === deviceId)?.rttMs ?? null,
            ...timing,
          },
          plan,
          input,
          {
            deadlineMs,
            ...(options.thresholds ? { thresholds: options.thresholds } : {}),
            ...(options.signal ? { signal: options.signal } : {}),
          },
        )
        return answer.ok ? ok({ mode: 'early-exit', ...answer.value }) : answer
      }
      default:
        return err(new CohortError('bad-message', `no mode ${String(options.mode)}`))
    }
  }
}

function noPlan(): CohortError {
  return new CohortError('no-plan', 'the room has no plan yet (no profiled devices)')
}
