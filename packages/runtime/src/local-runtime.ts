import {
  type BenchmarkResult,
  type EngineBuild,
  type EngineInfo,
  type LoadedModel,
  type LoadOptions,
  MAX_SLOWDOWN,
  type RunOptions,
  type RunResult,
  type RuntimeApi,
  type RuntimeConfig,
  type TensorMap,
} from './api.ts'
import { configureEngine, createSession, type ModelSession } from './engine.ts'
import { zeroInputs } from './inputs.ts'
import { RuntimeError, toRuntimeError } from './runtime-error.ts'

const YIELD_EVERY_MS = 50
/** At most this many queued batch-1 runs of one model share one `session.run`. */
export const MAX_BATCH = 16

/** Makes a session on the native engine (onnxruntime-node), for runtimes that have one. */
export type NativeSessionFactory = (
  bytes: Uint8Array,
  options: { readonly allowSpinning: boolean; readonly threads: number },
) => Promise<ModelSession>

/** What a LocalRuntime is built with. */
export interface LocalRuntimeOptions {
  /** The 'cpu' execution provider (Node only: browsers have no native engine). */
  readonly native?: NativeSessionFactory
}

/** A batch-1 run waiting for its model's next turn on the engine. */
interface PendingRun {
  readonly inputs: TensorMap
  readonly signal: AbortSignal | undefined
  readonly enqueued: number
  readonly resolve: (result: RunResult) => void
  readonly reject: (error: unknown) => void
}

/** One session and the last call queued on it, so unload can wait for its calls. */
interface Entry {
  readonly info: LoadedModel
  readonly session: ModelSession
  /** Settles when every call queued on this session so far has finished (never rejects). */
  tail: Promise<unknown>
  unloading: boolean
  /** Batch-1 runs that arrived while the engine was busy: they run together at the model's turn. */
  readonly pending: PendingRun[]
  /** False once a batched run failed where single runs work (a model with a fixed batch of 1). */
  batchable: boolean
}

/** RuntimeApi in the calling thread, over engine.ts: what the worker exposes, and what Node tests use. */
export class LocalRuntime implements RuntimeApi {
  private readonly sessions = new Map<string, Entry>()
  /**
   * This runtime's calls, one at a time: a device computes one thing at once. (ORT-web's own
   * per-thread lock lives in engine.ts; runtimes in one Node process share it but not this queue,
   * so an emulated slow device waiting out its stretch does not hold up the others.)
   */
  private queue: Promise<unknown> = Promise.resolve()
  private slowdown = 1
  /** Loads of the same id share one creation, so a session is created once per model. */
  private readonly loading = new Map<string, Promise<LoadedModel>>()
  private threads = 1
  /** Native sessions are not bound by cross-origin isolation: they take the threads asked for. */
  private nativeThreads = 1
  private spinning = false
  private build: EngineBuild = 'full'
  /** ORT reads its settings when the first session initialises WASM; later changes are ignored. */
  private engineStarted = false

  constructor(private readonly options: LocalRuntimeOptions = {}) {}

  /** Runs `work` after every call queued on this runtime before it. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work)
    this.queue = result.catch(() => undefined)
    return result
  }

  /**
   * Runs the session and, on an emulated slow device, waits (slowdown − 1) × the compute time
   * afterwards: the device is busy for slowdown × its real compute, without taking a core the
   * other devices on this machine need. Returns the (stretched) milliseconds.
   */
  private async timedRun(
    session: ModelSession,
    inputs: TensorMap,
  ): Promise<{ outputs: TensorMap; ms: number }> {
    const t0 = performance.now()
    const outputs = await session.run(inputs)
    const computeMs = performance.now() - t0
    if (this.slowdown > 1) await sleep((this.slowdown - 1) * computeMs)
    return { outputs, ms: performance.now() - t0 }
  }

  async configure(config: RuntimeConfig): Promise<EngineInfo> {
    const isolated = globalThis.crossOriginIsolated === true
    if (!Number.isInteger(config.numThreads) || config.numThreads < 1) {
      throw new RuntimeError(
        'bad-input',
        `numThreads must be a positive integer, not ${config.numThreads}`,
      )
    }
    const slowdown = config.slowdown ?? 1
    if (!(Number.isFinite(slowdown) && slowdown >= 1 && slowdown <= MAX_SLOWDOWN)) {
      throw new RuntimeError(
        'bad-input',
        `slowdown must be a number in [1, ${MAX_SLOWDOWN}], not ${config.slowdown}`,
      )
    }
    this.slowdown = slowdown
    this.nativeThreads = config.numThreads
    if (!this.engineStarted) {
      // Without isolation there is no SharedArrayBuffer, and ORT would quietly use one thread anyway.
      this.threads = isolated ? config.numThreads : 1
      this.spinning = config.allowSpinning ?? false
      this.build = config.build ?? 'full'
      configureEngine({
        numThreads: this.threads,
        build: this.build,
        ...(config.wasmPaths !== undefined ? { wasmPaths: config.wasmPaths } : {}),
      })
    }
    return {
      numThreads: this.threads,
      crossOriginIsolated: isolated,
      webgpuApi:
        typeof navigator !== 'undefined' && 'gpu' in navigator && navigator.gpu !== undefined,
      build: this.build,
      slowdown: this.slowdown,
      native: this.options.native !== undefined,
    }
  }

  loadModel(id: string, bytes: ArrayBuffer, options: LoadOptions): Promise<LoadedModel> {
    const loaded = this.sessions.get(id)
    if (loaded && !loaded.unloading) return Promise.resolve(loaded.info)
    const pending = this.loading.get(id)
    if (pending !== undefined) return pending
    const load = this.exclusive(() => this.create(id, bytes, options)).finally(() =>
      this.loading.delete(id),
    )
    this.loading.set(id, load)
    return load
  }

  private async create(id: string, bytes: ArrayBuffer, options: LoadOptions): Promise<LoadedModel> {
    const t0 = performance.now()
    this.engineStarted = true
    let session: ModelSession
    try {
      session = await this.createSession(new Uint8Array(bytes), options.executionProvider)
    } catch (error) {
      throw new RuntimeError(
        'model-failed',
        `could not create a ${options.executionProvider} session for ${id}: ${toRuntimeError(error).message}`,
      )
    }
    const t1 = performance.now()
    try {
      const zeros = zeroInputs(options.inputs)
      checkInputs(id, session, zeros)
      for (let i = 0; i < (options.warmupRuns ?? 1); i++) await session.run(zeros)
    } catch (error) {
      await session.release()
      throw toRuntimeError(error, 'model-failed')
    }
    const info: LoadedModel = {
      id,
      executionProvider: options.executionProvider,
      inputNames: [...session.inputNames],
      outputNames: [...session.outputNames],
      createMs: t1 - t0,
      warmupMs: performance.now() - t1,
    }
    this.sessions.set(id, {
      info,
      session,
      tail: Promise.resolve(),
      unloading: false,
      pending: [],
      batchable: true,
    })
    return info
  }

  private createSession(bytes: Uint8Array, ep: LoadOptions['executionProvider']) {
    if (ep !== 'cpu')
      return createSession(bytes, { executionProvider: ep, allowSpinning: this.spinning })
    if (!this.options.native) throw new Error('this runtime has no native engine (Node only)')
    return this.options.native(bytes, { allowSpinning: this.spinning, threads: this.nativeThreads })
  }

  /**
   * Runs one inference. Batch-1 runs of one model that queue up while the engine is busy run
   * together as one batch (up to MAX_BATCH) at the model's turn, and each gets its own rows of
   * the outputs: a device asked by many requesters at once pays the per-run overhead once.
   */
  run(id: string, inputs: TensorMap, options: RunOptions = {}): Promise<RunResult> {
    const entry = this.sessions.get(id)
    if (!entry || entry.unloading || !isBatchOne(inputs)) {
      return this.enqueue(id, inputs, options.signal, async (entry, queuedMs) => {
        const { outputs, ms } = await this.timedRun(entry.session, inputs)
        return { outputs, timings: { queuedMs, runMs: ms, batchSize: 1 } }
      })
    }
    try {
      checkInputs(id, entry.session, inputs)
    } catch (error) {
      return Promise.reject(error)
    }
    return new Promise<RunResult>((resolve, reject) => {
      entry.pending.push({
        inputs,
        signal: options.signal,
        enqueued: performance.now(),
        resolve,
        reject,
      })
      // The first to wait schedules the model's turn; later arrivals join it until it starts.
      if (entry.pending.length === 1) this.scheduleBatch(id, entry)
    })
  }

  private scheduleBatch(id: string, entry: Entry): void {
    const turn = this.exclusive(() => this.runBatch(id, entry))
    entry.tail = turn.catch(() => undefined)
  }

  /** The model's turn: everything pending (up to MAX_BATCH) runs as one batch. */
  private async runBatch(id: string, entry: Entry): Promise<void> {
    const taken = entry.pending.splice(0, MAX_BATCH)
    if (entry.pending.length > 0) this.scheduleBatch(id, entry)
    const settled = new Set<PendingRun>()
    const resolve = (run: PendingRun, result: RunResult) => {
      settled.add(run)
      run.resolve(result)
    }
    const reject = (run: PendingRun, error: unknown) => {
      settled.add(run)
      run.reject(error)
    }
    try {
      const startedAt = performance.now()
      const live = taken.filter((run) => {
        // Whoever asked has given up (deadline passed, first answer won): do not spend the engine on it.
        if (!run.signal?.aborted) return true
        reject(run, cancelledBeforeItRan(id))
        return false
      })
      const [first] = live
      if (!first) return
      const together = entry.batchable
        ? live.filter((run) => sameShape(run.inputs, first.inputs))
        : []
      if (together.length > 1) {
        try {
          const batch = concatBatch(together.map((run) => run.inputs))
          const { outputs, ms: runMs } = await this.timedRun(entry.session, batch)
          const rows = splitBatch(outputs, together.length)
          together.forEach((run, i) => {
            resolve(run, {
              outputs: rows[i] as TensorMap,
              timings: { queuedMs: startedAt - run.enqueued, runMs, batchSize: together.length },
            })
          })
        } catch {
          // The model may take a batch of exactly 1: run each alone from now on.
          entry.batchable = false
        }
      }
      for (const run of live) {
        if (settled.has(run)) continue
        if (run.signal?.aborted) {
          reject(run, cancelledBeforeItRan(id))
          continue
        }
        try {
          const queuedMs = performance.now() - run.enqueued
          const { outputs, ms } = await this.timedRun(entry.session, run.inputs)
          resolve(run, { outputs, timings: { queuedMs, runMs: ms, batchSize: 1 } })
        } catch (error) {
          reject(run, toRuntimeError(error, 'model-failed'))
        }
      }
    } finally {
      // Whatever happened above, every run taken ends with an outcome.
      for (const run of taken) {
        if (!settled.has(run))
          reject(run, new RuntimeError('model-failed', `${id}: the run was lost`))
      }
    }
  }

  benchmark(
    id: string,
    inputs: TensorMap,
    runs: number,
    options: RunOptions = {},
  ): Promise<BenchmarkResult> {
    if (!Number.isInteger(runs) || runs < 1 || runs > 100_000) {
      return Promise.reject(
        new RuntimeError('bad-input', `runs must be an integer in [1, 100000], not ${runs}`),
      )
    }
    return this.enqueue(id, inputs, options.signal, async (entry) => {
      const ms: number[] = []
      let yielded = performance.now()
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now()
        ms.push((await this.timedRun(entry.session, inputs)).ms)
        // Let queued messages (the client's liveness pings) through, or a long benchmark looks dead.
        if (t0 - yielded > YIELD_EVERY_MS) {
          await new Promise((resolve) => setTimeout(resolve, 0))
          yielded = performance.now()
        }
      }
      return { id, ms }
    })
  }

  /** Runs `work` on the session after every earlier call on it, failing fast on bad input. */
  private enqueue<T>(
    id: string,
    inputs: TensorMap,
    signal: AbortSignal | undefined,
    work: (entry: Entry, queuedMs: number) => Promise<T>,
  ): Promise<T> {
    const entry = this.sessions.get(id)
    if (!entry || entry.unloading) {
      return Promise.reject(
        new RuntimeError('not-loaded', `model ${id} is not loaded; load it first`),
      )
    }
    try {
      checkInputs(id, entry.session, inputs)
    } catch (error) {
      return Promise.reject(error)
    }
    const enqueued = performance.now()
    const result = this.exclusive(async () => {
      // Whoever asked has given up (deadline passed, first answer won): do not spend the engine on it.
      if (signal?.aborted) throw cancelledBeforeItRan(id)
      try {
        return await work(entry, performance.now() - enqueued)
      } catch (error) {
        throw toRuntimeError(error, 'model-failed')
      }
    })
    entry.tail = result.catch(() => undefined)
    return result
  }

  async unload(id: string): Promise<void> {
    await this.loading.get(id)?.catch(() => undefined)
    const entry = this.sessions.get(id)
    if (!entry || entry.unloading) return
    entry.unloading = true
    await entry.tail
    // A reload of the same id may already have replaced this entry while it drained.
    if (this.sessions.get(id) === entry) this.sessions.delete(id)
    await this.exclusive(() => entry.session.release())
  }

  models(): Promise<string[]> {
    return Promise.resolve([...this.sessions.keys()])
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function cancelledBeforeItRan(id: string): RuntimeError {
  return new RuntimeError('cancelled', `the call on ${id} was cancelled before it ran`)
}

/** Whether every input has a leading dimension of 1 (the runs a batch can be made of). */
function isBatchOne(inputs: TensorMap): boolean {
  const tensors = Object.values(inputs)
  return tensors.length > 0 && tensors.every((tensor) => tensor.dims[0] === 1)
}

/** Whether two runs' inputs have the same names and dims. */
function sameShape(a: TensorMap, b: TensorMap): boolean {
  const names = Object.keys(a)
  return (
    names.length === Object.keys(b).length &&
    names.every((name) => {
      const x = a[name]?.dims
      const y = b[name]?.dims
      return (
        x !== undefined && y !== undefined && x.length === y.length && x.every((d, i) => d === y[i])
      )
    })
  )
}

/** Batch-1 inputs stacked along the batch axis. */
function concatBatch(runs: readonly TensorMap[]): TensorMap {
  const names = Object.keys(runs[0] ?? {})
  return Object.fromEntries(
    names.map((name) => {
      const parts = runs.map((run) => run[name] as TensorMap[string])
      const per = parts[0]?.data.length ?? 0
      const data = new Float32Array(per * parts.length)
      parts.forEach((part, i) => {
        data.set(part.data, i * per)
      })
      return [name, { data, dims: [parts.length, ...(parts[0]?.dims.slice(1) ?? [])] }]
    }),
  )
}

/** A batch's outputs cut back into one output map per run; throws unless each has `n` rows. */
function splitBatch(outputs: TensorMap, n: number): TensorMap[] {
  const rows: Record<string, TensorMap[string]>[] = Array.from({ length: n }, () => ({}))
  for (const [name, tensor] of Object.entries(outputs)) {
    if (tensor.dims[0] !== n || tensor.data.length % n !== 0)
      throw new Error(`output ${name} has dims [${tensor.dims.join(', ')}], not ${n} rows`)
    const per = tensor.data.length / n
    for (let i = 0; i < n; i++) {
      ;(rows[i] as Record<string, TensorMap[string]>)[name] = {
        data: tensor.data.slice(i * per, (i + 1) * per),
        dims: [1, ...tensor.dims.slice(1)],
      }
    }
  }
  return rows
}

/** Throws 'bad-input' unless `inputs` names exactly the session's inputs with consistent float32 data. */
function checkInputs(id: string, session: ModelSession, inputs: TensorMap): void {
  const names = Object.keys(inputs)
  const missing = session.inputNames.filter((n) => !names.includes(n))
  const extra = names.filter((n) => !session.inputNames.includes(n))
  if (missing.length > 0 || extra.length > 0) {
    throw new RuntimeError(
      'bad-input',
      `${id} takes inputs [${session.inputNames.join(', ')}]; missing [${missing.join(', ')}], unknown [${extra.join(', ')}]`,
    )
  }
  for (const [name, tensor] of Object.entries(inputs)) {
    if (!(tensor.data instanceof Float32Array)) {
      throw new RuntimeError('bad-input', `${id} input ${name} must be a Float32Array`)
    }
    const size = tensor.dims.reduce((a, d) => a * d, 1)
    if (!tensor.dims.every((d) => Number.isInteger(d) && d >= 0) || size !== tensor.data.length) {
      throw new RuntimeError(
        'bad-input',
        `${id} input ${name} has ${tensor.data.length} values but dims [${tensor.dims.join(', ')}]`,
      )
    }
  }
}
