import type { Result } from '@cohort/protocol'
import { type Endpoint, type Remote, transfer, wrap } from 'comlink'
import type {
  BenchmarkResult,
  EngineInfo,
  LoadedModel,
  LoadOptions,
  RunOptions,
  RunResult,
  RuntimeApi,
  RuntimeConfig,
  TensorMap,
} from './api.ts'
import { RuntimeError } from './runtime-error.ts'
import {
  type Parsed,
  parseBenchmark,
  parseEngineInfo,
  parseLoadedModel,
  parseModelIds,
  parseReply,
  parseRunResult,
  parseVoid,
  type WorkerApi,
  type WorkerReply,
} from './worker-protocol.ts'

/** A started worker as the client sees it: an endpoint to talk to, a way to kill it, crash news. */
export interface WorkerHandle {
  readonly endpoint: Endpoint
  /** Kills the worker at once. */
  terminate(): void
  /** Registers the listener told when the worker reports a fatal error; called at most once per handle. */
  onCrash(listener: (reason: string) => void): void
}

/** Starts a worker that serves the runtime (see worker.ts). */
export type WorkerFactory = () => WorkerHandle

/** The real thing: worker.ts as a module Web Worker (Vite bundles it and its ORT chunks). */
export function browserWorkerFactory(): WorkerHandle {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), {
    type: 'module',
    name: 'cohort-runtime',
  })
  return {
    endpoint: worker,
    terminate: () => worker.terminate(),
    onCrash(listener) {
      // Registered once per worker and dropped with it: terminate() ends all its events.
      worker.addEventListener('error', (event) => {
        event.preventDefault()
        listener(`worker error: ${event.message || 'script failed to load'}`)
      })
      worker.addEventListener('messageerror', () =>
        listener('worker sent a message that could not be read'),
      )
    },
  }
}

/** Deadlines per kind of call, in milliseconds. */
export interface ClientTimeouts {
  readonly configureMs: number
  readonly loadMs: number
  readonly runMs: number
  readonly benchmarkMs: number
  readonly otherMs: number
}

/** How the client tells a dead worker from a busy one. */
export interface LivenessOptions {
  /** How often to ping while calls are pending. */
  readonly intervalMs: number
  /** A ping unanswered this long means the worker is dead (it must exceed the longest run). */
  readonly timeoutMs: number
  /**
   * The same before a fresh worker has answered anything (its script and ORT still loading), and
   * while it creates a session: ORT builds a session synchronously, deaf to pings meanwhile.
   */
  readonly bootTimeoutMs: number
  /**
   * A worker that answers pings but whose oldest call has had no answer for this long (and for
   * longer than that call's own deadline) is stuck, e.g. on a hung GPU, and is replaced.
   */
  readonly stuckMs: number
}

/** Settings of a RuntimeClient. */
export interface RuntimeClientOptions {
  readonly config: RuntimeConfig
  readonly createWorker?: WorkerFactory
  readonly timeouts?: Partial<ClientTimeouts>
  readonly liveness?: Partial<LivenessOptions>
  /** Restarts in a row without one successful call before the client gives up (default 3). */
  readonly maxConsecutiveRestarts?: number
  /** Told about restarts (for status displays and logs). */
  readonly onEvent?: (event: RuntimeClientEvent) => void
}

/** What the client reports as it happens. */
export type RuntimeClientEvent =
  | { readonly type: 'restarted'; readonly reason: string; readonly restarts: number }
  | {
      readonly type: 'reloaded'
      readonly models: readonly string[]
      readonly failed: readonly string[]
    }
  | { readonly type: 'gave-up'; readonly reason: string }

/** Per-call options. */
export interface CallOptions extends RunOptions {
  /** Overrides the call kind's default deadline. */
  readonly timeoutMs?: number
}

/** A run's result as the client returns it: plus the round trip and how many workers it took. */
export interface ClientRunResult extends RunResult {
  /** From the call to the answer, as the page saw it (messaging + queueing + run). */
  readonly roundTripMs: number
  /** 1, or 2 when the first worker died and the run was retried on a fresh one. */
  readonly attempts: number
}

const DEFAULT_TIMEOUTS: ClientTimeouts = {
  configureMs: 30_000,
  loadMs: 60_000,
  runMs: 30_000,
  benchmarkMs: 300_000,
  otherMs: 10_000,
}
const DEFAULT_LIVENESS: LivenessOptions = {
  intervalMs: 500,
  timeoutMs: 5_000,
  bootTimeoutMs: 30_000,
  stuckMs: 30_000,
}

/** One worker's lifetime. Calls made on it settle when it answers or when it dies, whichever is first. */
interface Generation {
  readonly number: number
  readonly handle: WorkerHandle
  readonly remote: Remote<WorkerApi>
  /** Settles once the worker is configured and has reloaded the kept models. */
  ready: Promise<void>
  /** Marks it dead and tells every call still waiting on it why. */
  readonly kill: (error: RuntimeError) => void
  dead: boolean
  /** The error that killed it, once it has died. */
  deathError: RuntimeError | null
  /**
   * How each call still in flight learns of the death. A call removes its own when it settles:
   * a reaction chained on one shared "died" promise would instead be kept for the worker's whole
   * life, two promises and their closures per call (the dashboard's heap grew 14 MiB/h so).
   */
  readonly deathWatchers: Set<(error: RuntimeError) => void>
  /** Calls (not pings) in flight on this worker, oldest first: when sent, and how long they may take. */
  readonly open: Map<
    number,
    { readonly sentAt: number; readonly budgetMs: number; readonly blocking: boolean }
  >
  /** When it last answered a call (not a ping). */
  lastAnswerAt: number
  pingSentAt: number | null
  /** Whether it has answered anything yet (until then it may still be loading its script). */
  booted: boolean
}

/**
 * The page's handle on the runtime worker: RuntimeApi with deadlines, cancellation and crash
 * recovery. Comlink calls never fail on their own when a worker dies, so every call races its
 * deadline, its AbortSignal and the worker's death; a missed deadline or an abort also cancels
 * the call in the worker. A watchdog pings a worker that has calls in flight and replaces one that
 * is silent (dead) or whose oldest call gets no answer past its budget (stuck). The new worker is
 * configured again and given back its models from the bytes kept here; calls pending on the old
 * one fail with 'worker-crashed' after one retry on the new one (every method is idempotent, so
 * the next call succeeds). Every call ends in a result or a RuntimeError.
 */
export class RuntimeClient implements RuntimeApi {
  private readonly createWorker: WorkerFactory
  private readonly timeouts: ClientTimeouts
  private readonly liveness: LivenessOptions
  private readonly maxRestarts: number
  private readonly onEvent: (event: RuntimeClientEvent) => void
  private config: RuntimeConfig
  /** Verified model bytes and options, in load order, so a fresh worker can be given them again. */
  private readonly kept = new Map<string, { bytes: ArrayBuffer; options: LoadOptions }>()
  private current: Generation
  private watchdog: ReturnType<typeof setInterval> | null = null
  private restartCount = 0
  private restartsInARow = 0
  private stopped: RuntimeError | null = null
  private callIds = 0
  private invocations = 0

  constructor(options: RuntimeClientOptions) {
    this.createWorker = options.createWorker ?? browserWorkerFactory
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts }
    this.liveness = { ...DEFAULT_LIVENESS, ...options.liveness }
    this.maxRestarts = options.maxConsecutiveRestarts ?? 3
    this.onEvent = options.onEvent ?? (() => undefined)
    this.config = options.config
    this.current = this.startGeneration(0)
  }

  /** How many times the worker has been replaced. */
  get restarts(): number {
    return this.restartCount
  }

  configure(config: RuntimeConfig, options: CallOptions = {}): Promise<EngineInfo> {
    this.config = config
    return this.call(
      (r) => r.configure(config),
      parseEngineInfo,
      options.timeoutMs ?? this.timeouts.configureMs,
      options.signal,
      true,
    )
  }

  /**
   * Emulates a device `factor` times slower from now on (1: its real speed), the rest of the
   * engine's settings unchanged: benchmarks turn members into stragglers this way.
   */
  setSlowdown(factor: number, options: CallOptions = {}): Promise<EngineInfo> {
    return this.configure({ ...this.config, slowdown: factor }, options)
  }

  async loadModel(
    id: string,
    bytes: ArrayBuffer,
    options: LoadOptions,
    callOptions: CallOptions = {},
  ): Promise<LoadedModel> {
    // The kept copy outlives the worker; the worker gets its own copy, transferred.
    const keep = bytes.slice(0)
    const loaded = await this.call(
      (r) => {
        const copy = keep.slice(0)
        return r.loadModel(id, transfer(copy, [copy]), options)
      },
      parseLoadedModel,
      callOptions.timeoutMs ?? this.timeouts.loadMs,
      callOptions.signal,
      true,
      true,
    )
    this.kept.set(id, { bytes: keep, options })
    return loaded
  }

  async run(id: string, inputs: TensorMap, options: CallOptions = {}): Promise<ClientRunResult> {
    const t0 = performance.now()
    let attempts = 0
    const result = await this.call(
      (r, callId) => {
        attempts++
        const [copy, buffers] = copyTensors(inputs)
        return r.run(id, transfer(copy, buffers), callId)
      },
      parseRunResult,
      options.timeoutMs ?? this.timeouts.runMs,
      options.signal,
      true,
    )
    return { ...result, roundTripMs: performance.now() - t0, attempts }
  }

  benchmark(
    id: string,
    inputs: TensorMap,
    runs: number,
    options: CallOptions = {},
  ): Promise<BenchmarkResult> {
    return this.call(
      (r, callId) => {
        const [copy, buffers] = copyTensors(inputs)
        return r.benchmark(id, transfer(copy, buffers), runs, callId)
      },
      parseBenchmark,
      options.timeoutMs ?? this.timeouts.benchmarkMs,
      options.signal,
      true,
    )
  }

  unload(id: string, options: CallOptions = {}): Promise<void> {
    this.kept.delete(id)
    return this.call(
      (r) => r.unload(id),
      parseVoid,
      options.timeoutMs ?? this.timeouts.otherMs,
      options.signal,
      true,
    )
  }

  models(options: CallOptions = {}): Promise<string[]> {
    return this.call(
      (r) => r.models(),
      parseModelIds,
      options.timeoutMs ?? this.timeouts.otherMs,
      options.signal,
      true,
    )
  }

  /** Kills the worker without telling the client, as a crash would: the next call must recover. */
  crashWorkerForTesting(): void {
    this.current.handle.terminate()
  }

  /** Stops the worker for good; pending and later calls fail with 'cancelled'. */
  dispose(): void {
    if (this.stopped) return
    this.stopped = new RuntimeError('cancelled', 'the runtime client was disposed')
    this.current.kill(this.stopped)
    this.current.handle.terminate()
    this.kept.clear()
    this.stopWatchdog()
  }

  // ---- calls ----

  /**
   * One public call: waits for a ready worker, invokes, and settles with the first of the answer,
   * the deadline, the abort signal. A call that dies with its worker is retried once when `retry`.
   */
  private async call<T>(
    invoke: (remote: Remote<WorkerApi>, callId: number) => Promise<WorkerReply>,
    parse: (value: unknown) => Parsed<T>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    retry: boolean,
    blocking = false,
  ): Promise<T> {
    if (this.stopped) throw this.stopped
    if (signal?.aborted)
      throw new RuntimeError('cancelled', 'the call was aborted before it started')
    let onGen: Generation | null = null
    const callId = ++this.callIds
    let stop: (error: RuntimeError) => void = () => undefined
    const stopped = new Promise<RuntimeError>((resolve) => {
      stop = (error) => {
        resolve(error)
        // The worker skips the call if it has not started (queued runs behind others).
        const gen = onGen
        if (gen && !gen.dead) gen.remote.cancel(callId).then(noop, noop)
      }
    })
    // A missed deadline fails the call, not the worker: it may be queued behind slow work. The
    // watchdog decides whether the worker itself is dead or stuck.
    const timer = setTimeout(
      () => stop(new RuntimeError('timeout', `the runtime did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    )
    const budgetMs = Math.max(timeoutMs, this.liveness.stuckMs)
    const onAbort = () => stop(new RuntimeError('cancelled', 'the call was aborted'))
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      for (let attempt = 1; ; attempt++) {
        const waited = await raceStop(this.readyGeneration(), stopped)
        const ready = waited.ok ? waited.value : waited
        if (!ready.ok) throw ready.error
        const gen = ready.value
        onGen = gen
        const outcome = await raceStop(
          this.invoke(gen, (remote) => invoke(remote, callId), parse, budgetMs, blocking),
          stopped,
        )
        const result = outcome.ok ? outcome.value : outcome
        if (result.ok) {
          this.restartsInARow = 0
          return result.value
        }
        if (!(retry && attempt === 1 && result.error.code === 'worker-crashed' && !this.stopped)) {
          throw result.error
        }
      }
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Resolves with a configured worker, waiting out restarts; fails once the client has given up. */
  private async readyGeneration(): Promise<Result<Generation, RuntimeError>> {
    for (;;) {
      if (this.stopped) return { ok: false, error: this.stopped }
      const gen = this.current
      await gen.ready
      if (!gen.dead) return { ok: true, value: gen }
      if (gen === this.current && this.stopped === null) {
        // Dead but not replaced: only possible if restart threw, which would be a bug.
        return {
          ok: false,
          error: new RuntimeError('internal', 'the runtime worker is dead and was not replaced'),
        }
      }
    }
  }

  /** One message round on one worker: its parsed answer, or 'worker-crashed' if it dies first. Never rejects. */
  private async invoke<T>(
    gen: Generation,
    invoke: (remote: Remote<WorkerApi>) => Promise<WorkerReply>,
    parse: (value: unknown) => Parsed<T>,
    budgetMs: number,
    blocking = false,
  ): Promise<Parsed<T>> {
    if (gen.deathError) return { ok: false, error: gen.deathError }
    const seq = ++this.invocations
    gen.open.set(seq, { sentAt: performance.now(), budgetMs, blocking })
    this.startWatchdog()
    let watcher: (error: RuntimeError) => void = noop
    try {
      const answer = invoke(gen.remote).then(
        (reply): Parsed<T> => {
          gen.lastAnswerAt = performance.now()
          gen.booted = true
          const opened = parseReply(reply)
          return opened.ok ? parse(opened.value) : opened
        },
        (error: unknown): Parsed<T> => ({
          ok: false,
          error: new RuntimeError(
            'bad-reply',
            `the runtime worker failed a call: ${String(error)}`,
          ),
        }),
      )
      const died = new Promise<Parsed<T>>((resolve) => {
        watcher = (error) => resolve({ ok: false, error })
        gen.deathWatchers.add(watcher)
      })
      return await Promise.race([answer, died])
    } finally {
      gen.open.delete(seq)
      gen.deathWatchers.delete(watcher)
    }
  }

  // ---- workers ----

  private startGeneration(number: number): Generation {
    const handle = this.createWorker()
    const gen: Generation = {
      number,
      handle,
      remote: wrap<WorkerApi>(handle.endpoint),
      ready: Promise.resolve(),
      kill: (error) => {
        gen.dead = true
        gen.deathError = error
        for (const watcher of gen.deathWatchers) watcher(error)
        gen.deathWatchers.clear()
      },
      dead: false,
      deathError: null,
      deathWatchers: new Set(),
      open: new Map(),
      lastAnswerAt: 0,
      pingSentAt: null,
      booted: false,
    }
    handle.onCrash((reason) => this.restart(gen, reason))
    gen.ready = this.prepare(gen)
    return gen
  }

  /** Configures a fresh worker and gives it back every kept model; never rejects. */
  private async prepare(gen: Generation): Promise<void> {
    if (gen.number === 0) return
    const configured = await this.invoke(
      gen,
      (r) => r.configure(this.config),
      parseEngineInfo,
      this.timeouts.configureMs,
    )
    if (!configured.ok) return
    const models: string[] = []
    const failed: string[] = []
    for (const [id, { bytes, options }] of this.kept) {
      const loaded = await this.invoke(
        gen,
        (r) => {
          const copy = bytes.slice(0)
          return r.loadModel(id, transfer(copy, [copy]), options)
        },
        parseLoadedModel,
        this.timeouts.loadMs,
        true,
      )
      if (gen.dead) return
      ;(loaded.ok ? models : failed).push(id)
    }
    this.onEvent({ type: 'reloaded', models, failed })
  }

  /** Replaces a dead or stuck worker; calls pending on it settle with 'worker-crashed'. */
  private restart(gen: Generation, reason: string): void {
    if (gen.dead || this.stopped) return
    gen.kill(
      new RuntimeError('worker-crashed', `the runtime worker died (${reason}); it was restarted`),
    )
    gen.handle.terminate()
    if (gen !== this.current) return
    this.restartCount++
    this.restartsInARow++
    if (this.restartsInARow > this.maxRestarts) {
      this.stopped = new RuntimeError(
        'worker-crashed',
        `the runtime worker crashed ${this.restartsInARow} times in a row (last: ${reason}); reload the page`,
      )
      this.stopWatchdog()
      this.onEvent({ type: 'gave-up', reason })
      return
    }
    this.current = this.startGeneration(gen.number + 1)
    this.onEvent({ type: 'restarted', reason, restarts: this.restartCount })
  }

  /**
   * Watches the current worker while it has calls in flight: silence to pings past the deadline
   * is death; an oldest call with no answer from the worker past its budget is a stuck worker.
   */
  private startWatchdog(): void {
    if (this.watchdog !== null) return
    this.watchdog = setInterval(() => {
      const gen = this.current
      const oldest = gen.open.values().next()
      if (gen.dead || oldest.done) {
        gen.pingSentAt = null
        this.stopWatchdog()
        return
      }
      const now = performance.now()
      const quietMs = now - Math.max(oldest.value.sentAt, gen.lastAnswerAt)
      if (quietMs > oldest.value.budgetMs) {
        this.restart(gen, `its oldest call got no answer for ${Math.round(quietMs)} ms`)
        return
      }
      if (gen.pingSentAt === null) {
        const sentAt = now
        gen.pingSentAt = sentAt
        gen.remote.ping().then(
          () => {
            gen.booted = true
            if (gen.pingSentAt === sentAt) gen.pingSentAt = null
          },
          () => undefined,
        )
        return
      }
      const creating = [...gen.open.values()].some((call) => call.blocking)
      const limit = gen.booted && !creating ? this.liveness.timeoutMs : this.liveness.bootTimeoutMs
      if (now - gen.pingSentAt > limit)
        this.restart(gen, `no answer to a ping for ${Math.round(now - gen.pingSentAt)} ms`)
    }, this.liveness.intervalMs)
  }

  private stopWatchdog(): void {
    if (this.watchdog !== null) clearInterval(this.watchdog)
    this.watchdog = null
  }
}

const noop = () => undefined

/** Races a never-rejecting promise against a stop signal. */
async function raceStop<T>(
  promise: Promise<T>,
  stopped: Promise<RuntimeError>,
): Promise<Result<T, RuntimeError>> {
  return Promise.race([
    promise.then((value): Result<T, RuntimeError> => ({ ok: true, value })),
    stopped.then((error): Result<T, RuntimeError> => ({ ok: false, error })),
  ])
}

/** Fresh copies of the inputs (the caller keeps its own, and a retry needs them) and their buffers. */
function copyTensors(inputs: TensorMap): [TensorMap, ArrayBuffer[]] {
  const copy: Record<string, { data: Float32Array; dims: readonly number[] }> = {}
  const buffers: ArrayBuffer[] = []
  for (const [name, t] of Object.entries(inputs)) {
    const data = new Float32Array(t.data)
    copy[name] = { data, dims: [...t.dims] }
    buffers.push(data.buffer)
  }
  return [copy, buffers]
}
