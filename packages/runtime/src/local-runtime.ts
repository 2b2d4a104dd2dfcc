import type {
  BenchmarkResult,
  EngineBuild,
  EngineInfo,
  LoadedModel,
  LoadOptions,
  RunOptions,
  RunResult,
  RuntimeApi,
  RuntimeConfig,
  TensorMap,
} from './api.ts'
import { configureEngine, createSession, type ModelSession } from './engine.ts'
import { zeroInputs } from './inputs.ts'
import { RuntimeError, toRuntimeError } from './runtime-error.ts'

const YIELD_EVERY_MS = 50

/**
 * Every ORT call (create, run, release) in this thread goes through this one queue, not one per
 * session nor one per LocalRuntime: ORT-web's WASM module is a per-thread singleton and is not
 * re-entrant, and two sessions' runs interleaving at an await trap inside it ("null function or
 * function signature mismatch", seen in the unit tests).
 */
let engineQueue: Promise<unknown> = Promise.resolve()

/** Runs `work` after every ORT call queued before it in this thread. */
function exclusive<T>(work: () => Promise<T>): Promise<T> {
  const result = engineQueue.then(work)
  engineQueue = result.catch(() => undefined)
  return result
}

/** One session and the last call queued on it, so unload can wait for its calls. */
interface Entry {
  readonly info: LoadedModel
  readonly session: ModelSession
  /** Settles when every call queued on this session so far has finished (never rejects). */
  tail: Promise<unknown>
  unloading: boolean
}

/** RuntimeApi in the calling thread, over engine.ts: what the worker exposes, and what Node tests use. */
export class LocalRuntime implements RuntimeApi {
  private readonly sessions = new Map<string, Entry>()
  /** Loads of the same id share one creation, so a session is created once per model. */
  private readonly loading = new Map<string, Promise<LoadedModel>>()
  private threads = 1
  private spinning = false
  private build: EngineBuild = 'full'
  /** ORT reads its settings when the first session initialises WASM; later changes are ignored. */
  private engineStarted = false

  async configure(config: RuntimeConfig): Promise<EngineInfo> {
    const isolated = globalThis.crossOriginIsolated === true
    if (!Number.isInteger(config.numThreads) || config.numThreads < 1) {
      throw new RuntimeError(
        'bad-input',
        `numThreads must be a positive integer, not ${config.numThreads}`,
      )
    }
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
    }
  }

  loadModel(id: string, bytes: ArrayBuffer, options: LoadOptions): Promise<LoadedModel> {
    const loaded = this.sessions.get(id)
    if (loaded && !loaded.unloading) return Promise.resolve(loaded.info)
    const pending = this.loading.get(id)
    if (pending !== undefined) return pending
    const load = exclusive(() => this.create(id, bytes, options)).finally(() =>
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
      session = await createSession(new Uint8Array(bytes), {
        executionProvider: options.executionProvider,
        allowSpinning: this.spinning,
      })
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
    this.sessions.set(id, { info, session, tail: Promise.resolve(), unloading: false })
    return info
  }

  run(id: string, inputs: TensorMap, options: RunOptions = {}): Promise<RunResult> {
    return this.enqueue(id, inputs, options.signal, async (entry, queuedMs) => {
      const t0 = performance.now()
      const outputs = await entry.session.run(inputs)
      return { outputs, timings: { queuedMs, runMs: performance.now() - t0 } }
    })
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
        await entry.session.run(inputs)
        ms.push(performance.now() - t0)
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
    const result = exclusive(async () => {
      // Whoever asked has given up (deadline passed, first answer won): do not spend the engine on it.
      if (signal?.aborted)
        throw new RuntimeError('cancelled', `the call on ${id} was cancelled before it ran`)
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
    await exclusive(() => entry.session.release())
  }

  models(): Promise<string[]> {
    return Promise.resolve([...this.sessions.keys()])
  }
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
