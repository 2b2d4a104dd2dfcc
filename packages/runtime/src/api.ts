/**
 * The runtime's interface. One in-thread implementation (LocalRuntime, over engine.ts) runs in
 * Node tests and inside the Web Worker; the worker exposes it with comlink and RuntimeClient
 * calls it from the page. Every argument and result is plain data plus typed arrays, so it
 * crosses postMessage unchanged.
 */

/**
 * The execution providers Cohort chooses between: onnxruntime-web's WASM and WebGPU, and (in Node
 * only) onnxruntime-node's native CPU provider.
 */
export type ExecutionProvider = 'wasm' | 'webgpu' | 'cpu'

/** A float32 tensor: row-major data plus its dimensions. */
export interface TensorData {
  readonly data: Float32Array
  readonly dims: readonly number[]
}

/** Named tensors: a model's inputs or outputs. */
export type TensorMap = Readonly<Record<string, TensorData>>

/** Which onnxruntime-web build the engine loads: with WebGPU, or WASM only (half the size). */
export type EngineBuild = 'full' | 'wasm-only'

/** The slowest device a runtime may emulate (`RuntimeConfig.slowdown`). */
export const MAX_SLOWDOWN = 100

/** Engine-wide settings; applied once, before the first session (ORT reads them at init). */
export interface RuntimeConfig {
  /** WASM threads; more than 1 only works when the page is cross-origin isolated. */
  readonly numThreads: number
  /** Where ORT's .wasm/.mjs files are served from, when not next to the bundle. */
  readonly wasmPaths?: string
  /**
   * Let idle ORT threads busy-wait (default false): spinning shaves little off sporadic single
   * inferences but takes whole cores from the page, the mesh and other tabs on small devices.
   */
  readonly allowSpinning?: boolean
  /** Default 'full'. 'wasm-only' cannot create WebGPU sessions. */
  readonly build?: EngineBuild
  /**
   * Emulate a device this many times slower (default 1): each run computes, then waits
   * (slowdown − 1) × its compute time, so emulated devices do not take the shared cores.
   */
  readonly slowdown?: number
}

/** What the engine's thread reports about itself after `configure`. */
export interface EngineInfo {
  /** The WASM threads the engine will use (1 when the thread is not cross-origin isolated). */
  readonly numThreads: number
  readonly crossOriginIsolated: boolean
  /** Whether this thread exposes `navigator.gpu` (an adapter may still be missing). */
  readonly webgpuApi: boolean
  /** The onnxruntime-web build in use (or to be loaded with the first session). */
  readonly build: EngineBuild
  /** The emulated slowdown every run is stretched by (1: none). */
  readonly slowdown: number
  /** Whether the 'cpu' provider (onnxruntime-node) is available: Node runtimes only. */
  readonly native: boolean
}

/** A model input as the manifest declares it; 'batch' is the dynamic batch axis. */
export interface InputSpec {
  readonly name: string
  readonly shape: readonly (number | 'batch')[]
}

/** How to create a session. */
export interface LoadOptions {
  readonly executionProvider: ExecutionProvider
  /** The model's inputs, used to warm the session up with zeros (batch 1) before it is used. */
  readonly inputs: readonly InputSpec[]
  /** Warm-up runs after creation (default 1); the first run pays for kernel setup. */
  readonly warmupRuns?: number
}

/** A created, warmed-up session. */
export interface LoadedModel {
  readonly id: string
  readonly executionProvider: ExecutionProvider
  readonly inputNames: readonly string[]
  readonly outputNames: readonly string[]
  /** Milliseconds to create the session. */
  readonly createMs: number
  /** Milliseconds of the warm-up runs together. */
  readonly warmupMs: number
}

/** Where an inference's time went, measured in the engine's thread. */
export interface RunTimings {
  /** Waiting behind earlier runs on the same session. */
  readonly queuedMs: number
  /** `session.run` itself, including tensor conversion (of the whole batch, when batched). */
  readonly runMs: number
  /** How many requests shared that `session.run` (1 when it ran alone). */
  readonly batchSize?: number
}

/** An inference's outputs and timings. */
export interface RunResult {
  readonly outputs: TensorMap
  readonly timings: RunTimings
}

/** Back-to-back `session.run` times measured in the engine's thread (no messaging). */
export interface BenchmarkResult {
  readonly id: string
  /** Milliseconds of each run, in order. */
  readonly ms: readonly number[]
}

/** Options of a queued call. */
export interface RunOptions {
  /** Aborting before the call's turn comes skips it: it fails with 'cancelled' and never runs. */
  readonly signal?: AbortSignal
}

/** The runtime: sessions keyed by model id, runs queued per session. */
export interface RuntimeApi {
  /** Applies engine settings; call once before loading models. */
  configure(config: RuntimeConfig): Promise<EngineInfo>
  /** Creates (once) and warms up a session from verified ONNX bytes. */
  loadModel(id: string, bytes: ArrayBuffer, options: LoadOptions): Promise<LoadedModel>
  /** Runs one inference; concurrent calls on one model are queued, never interleaved. */
  run(id: string, inputs: TensorMap, options?: RunOptions): Promise<RunResult>
  /** Times `runs` back-to-back inferences on `inputs` inside the engine's thread. */
  benchmark(
    id: string,
    inputs: TensorMap,
    runs: number,
    options?: RunOptions,
  ): Promise<BenchmarkResult>
  /** Disposes a session once its queued runs finish; unknown ids are ignored. */
  unload(id: string): Promise<void>
  /** The ids of the loaded sessions. */
  models(): Promise<string[]>
}
