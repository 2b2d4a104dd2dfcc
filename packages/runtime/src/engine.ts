import type * as OrtModule from 'onnxruntime-web'

/**
 * The in-thread inference engine: the one module that imports onnxruntime-web.
 * A Web Worker runtime wraps this same API; in Node it runs the WASM backend for tests.
 * ORT is imported on first use, so the build can be chosen first: the WASM-only build is half
 * the download and compile of the WebGPU-capable one (14 vs 28 MB of wasm).
 */

type Ort = typeof OrtModule

/** A float32 tensor: row-major data plus its dimensions. */
export interface Float32Tensor {
  readonly data: Float32Array
  readonly dims: readonly number[]
}

/** Engine-wide settings, applied before the first session is created. */
export interface EngineOptions {
  /** WASM threads (1 in tests; threads need cross-origin isolation in browsers). */
  readonly numThreads?: number
  /** Where the ORT .wasm/.mjs files are served from, if not next to the bundle. */
  readonly wasmPaths?: string
  /**
   * Which onnxruntime-web build to load: with WebGPU ('full', the default) or WASM only. Only
   * read before ORT is first loaded; Node always loads its own build.
   */
  readonly build?: 'full' | 'wasm-only'
}

let settings: EngineOptions = {}
let loaded: Promise<Ort> | null = null

/** ORT, imported once, with the settings given so far applied. */
function engine(): Promise<Ort> {
  // Node resolves the package to its own build; the WASM-only entry exists for browsers only.
  const inBrowser = globalThis.process?.versions?.node === undefined
  loaded ??= (
    settings.build === 'wasm-only' && inBrowser
      ? import('onnxruntime-web/wasm')
      : import('onnxruntime-web')
  ).then((ort) => {
    applySettings(ort)
    return ort
  })
  return loaded
}

function applySettings(ort: Ort): void {
  if (settings.numThreads !== undefined) ort.env.wasm.numThreads = settings.numThreads
  if (settings.wasmPaths !== undefined) ort.env.wasm.wasmPaths = settings.wasmPaths
}

/** Applies engine-wide ORT settings (call before createSession). */
export function configureEngine(options: EngineOptions): void {
  settings = { ...settings, ...options }
  // Once ORT is loaded, later thread settings are ignored by it, but paths still apply.
  if (loaded) void loaded.then(applySettings)
}

/**
 * Every ORT-web call (create, run, release) in this thread goes through this one lock, whichever
 * session or runtime makes it: ORT-web's WASM module is a per-thread singleton and is not
 * re-entrant, and two sessions' runs interleaving at an await trap inside it ("null function or
 * function signature mismatch", seen in the unit tests).
 */
let wasmLock: Promise<unknown> = Promise.resolve()

/** Runs `work` after every ORT-web call queued before it in this thread. */
function withWasmLock<T>(work: () => Promise<T>): Promise<T> {
  const result = wasmLock.then(work)
  wasmLock = result.catch(() => undefined)
  return result
}

/** A loaded model that runs one request at a time. */
export interface ModelSession {
  /** The graph's input names, in order. */
  readonly inputNames: readonly string[]
  /** The graph's output names, in order. */
  readonly outputNames: readonly string[]
  /** Runs the model on named float32 inputs; returns every float32 output by name. Calls are queued. */
  run(inputs: Readonly<Record<string, Float32Tensor>>): Promise<Record<string, Float32Tensor>>
  /** Frees the session's WASM memory; the session is unusable afterwards. */
  release(): Promise<void>
}

/** Per-session settings. */
export interface SessionOptions {
  /** Defaults to 'wasm'; 'webgpu' fails (rather than silently falling back) when WebGPU is unusable. */
  readonly executionProvider?: 'wasm' | 'webgpu'
  /**
   * Whether idle intra-op threads busy-wait for work (ORT's default: true). Spinning threads take
   * whole cores from the page, the mesh and other tabs on small devices; false lets them sleep.
   */
  readonly allowSpinning?: boolean
}

/** Creates a session from the bytes of an ONNX model (WASM backend unless told otherwise). */
export async function createSession(
  model: Uint8Array,
  options: SessionOptions = {},
): Promise<ModelSession> {
  const ort = await engine()
  const session = await withWasmLock(() =>
    ort.InferenceSession.create(model, {
      executionProviders: [options.executionProvider ?? 'wasm'],
      graphOptimizationLevel: 'all',
      ...(options.allowSpinning === false
        ? {
            extra: {
              session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } },
            },
          }
        : {}),
    }),
  )
  return wrapOrtSession(ort, session, withWasmLock)
}

/**
 * An onnxruntime session (web or node: both follow onnxruntime-common's API) as a ModelSession:
 * float32 in and out, runs chained (ORT rejects concurrent run() calls on one session), every
 * ORT call through `lock`.
 */
export function wrapOrtSession(
  ort: Pick<Ort, 'Tensor'>,
  session: OrtModule.InferenceSession,
  lock: <T>(work: () => Promise<T>) => Promise<T> = (work) => work(),
): ModelSession {
  let queue: Promise<unknown> = Promise.resolve()
  const runNow = async (
    inputs: Readonly<Record<string, Float32Tensor>>,
  ): Promise<Record<string, Float32Tensor>> => {
    const feeds: Record<string, OrtModule.Tensor> = {}
    for (const [name, t] of Object.entries(inputs)) {
      feeds[name] = new ort.Tensor('float32', t.data, [...t.dims])
    }
    const results = await lock(() => session.run(feeds))
    const out: Record<string, Float32Tensor> = {}
    for (const [name, t] of Object.entries(results)) {
      if (t.type !== 'float32') throw new TypeError(`output ${name} is ${t.type}, expected float32`)
      out[name] = { data: t.data as Float32Array, dims: [...t.dims] }
      t.dispose()
    }
    return out
  }
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run(inputs) {
      const result = queue.then(() => runNow(inputs))
      queue = result.catch(() => undefined)
      return result
    },
    release: () => lock(() => session.release()),
  }
}
