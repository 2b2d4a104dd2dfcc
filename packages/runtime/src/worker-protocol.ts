import type { Result } from '@cohort/protocol'
import { transfer } from 'comlink'
import type {
  BenchmarkResult,
  EngineInfo,
  ExecutionProvider,
  LoadedModel,
  LoadOptions,
  RunResult,
  RuntimeApi,
  RuntimeConfig,
  TensorData,
  TensorMap,
} from './api.ts'
import { isRuntimeErrorCode, RuntimeError, toRuntimeError } from './runtime-error.ts'

/**
 * The messages between RuntimeClient and the worker, kept apart from both. Comlink carries the
 * calls; each answer is a plain-data envelope because a thrown error loses its code on the way,
 * and the client treats every answer as `unknown` until one of the parsers below accepts it.
 */

/** What the worker answers to every call. */
export type WorkerReply =
  | { readonly type: 'ok'; readonly value: unknown }
  | { readonly type: 'error'; readonly code: string; readonly message: string }

type Enveloped = {
  readonly [K in Exclude<keyof RuntimeApi, 'run' | 'benchmark'>]: (
    ...args: Parameters<RuntimeApi[K]>
  ) => Promise<WorkerReply>
}

/**
 * What the worker exposes: RuntimeApi's methods answering with envelopes; queued calls carry a
 * call id the client can cancel (an AbortSignal cannot cross postMessage); a liveness ping.
 */
export type WorkerApi = Enveloped & {
  readonly run: (id: string, inputs: TensorMap, callId: number) => Promise<WorkerReply>
  readonly benchmark: (
    id: string,
    inputs: TensorMap,
    runs: number,
    callId: number,
  ) => Promise<WorkerReply>
  /** Skips a queued call that has not started (no-op for unknown or finished ids). */
  readonly cancel: (callId: number) => Promise<void>
  /** Answers at once: the client's watchdog uses it to tell a busy worker from a dead one. */
  readonly ping: () => Promise<'pong'>
}

/** Wraps a runtime so every call answers with an envelope and output buffers are transferred. */
export function serveRuntime(runtime: RuntimeApi): WorkerApi {
  const reply = async (call: () => Promise<unknown>): Promise<WorkerReply> => {
    try {
      const value = await call()
      return transfer({ type: 'ok', value }, transferablesOf(value))
    } catch (error) {
      const e = toRuntimeError(error)
      return { type: 'error', code: e.code, message: e.message }
    }
  }
  const pending = new Map<number, AbortController>()
  /** Runs a cancellable call under its id. */
  const cancellable = <T>(callId: unknown, call: (signal: AbortSignal) => Promise<T>) => {
    const id = checkCallId(callId)
    const controller = new AbortController()
    pending.set(id, controller)
    return call(controller.signal).finally(() => pending.delete(id))
  }
  // Arguments arrive as structured clones: typed as the API says, checked as the unknowns they are.
  return {
    configure: (config) => reply(() => runtime.configure(checkConfig(config))),
    loadModel: (id, bytes, options) =>
      reply(() => runtime.loadModel(checkId(id), checkBytes(bytes), checkLoadOptions(options))),
    run: (id, inputs, callId) =>
      reply(() =>
        cancellable(callId, async (signal) =>
          detachable(await runtime.run(checkId(id), checkTensors(inputs), { signal })),
        ),
      ),
    benchmark: (id, inputs, runs, callId) =>
      reply(() =>
        cancellable(callId, (signal) =>
          runtime.benchmark(checkId(id), checkTensors(inputs), checkCount(runs), { signal }),
        ),
      ),
    cancel: (callId) => {
      if (Number.isInteger(callId)) pending.get(callId)?.abort()
      return Promise.resolve()
    },
    unload: (id) => reply(() => runtime.unload(checkId(id))),
    models: () => reply(() => runtime.models()),
    ping: () => Promise.resolve('pong'),
  }
}

// ---- argument checks: the worker's view of the client's calls ----

const badInput = (what: string): never => {
  throw new RuntimeError('bad-input', `the runtime worker received an invalid ${what}`)
}

function checkId(v: unknown): string {
  return typeof v === 'string' && v.length > 0 && v.length <= 200 ? v : badInput('model id')
}

function checkBytes(v: unknown): ArrayBuffer {
  return v instanceof ArrayBuffer && v.byteLength > 0
    ? v
    : badInput('model (not a non-empty ArrayBuffer)')
}

function checkCallId(v: unknown): number {
  return Number.isInteger(v) ? (v as number) : badInput('call id')
}

function checkCount(v: unknown): number {
  return Number.isInteger(v) ? (v as number) : badInput('run count')
}

function checkConfig(v: unknown): RuntimeConfig {
  if (!isRecord(v) || !Number.isInteger(v.numThreads)) return badInput('configuration')
  if (v.wasmPaths !== undefined && typeof v.wasmPaths !== 'string') return badInput('wasmPaths')
  if (v.allowSpinning !== undefined && typeof v.allowSpinning !== 'boolean') {
    return badInput('allowSpinning')
  }
  if (v.build !== undefined && v.build !== 'full' && v.build !== 'wasm-only')
    return badInput('build')
  if (v.slowdown !== undefined && typeof v.slowdown !== 'number') return badInput('slowdown')
  return v as unknown as RuntimeConfig
}

function checkLoadOptions(v: unknown): LoadOptions {
  if (!isRecord(v) || !isEp(v.executionProvider) || !Array.isArray(v.inputs)) {
    return badInput('load options')
  }
  for (const spec of v.inputs as unknown[]) {
    if (!isRecord(spec) || typeof spec.name !== 'string' || !Array.isArray(spec.shape)) {
      return badInput('input spec')
    }
    const shape: unknown[] = spec.shape
    if (!shape.every((d) => d === 'batch' || (Number.isInteger(d) && (d as number) > 0))) {
      return badInput(`shape for input ${spec.name}`)
    }
  }
  if (
    v.warmupRuns !== undefined &&
    !(Number.isInteger(v.warmupRuns) && (v.warmupRuns as number) >= 0)
  ) {
    return badInput('warm-up count')
  }
  return v as unknown as LoadOptions
}

function checkTensors(v: unknown): TensorMap {
  if (!isRecord(v)) return badInput('input map')
  for (const [name, t] of Object.entries(v)) {
    if (!isRecord(t) || !(t.data instanceof Float32Array) || !Array.isArray(t.dims)) {
      return badInput(`tensor ${name}`)
    }
    const dims: unknown[] = t.dims
    if (!dims.every((d) => Number.isInteger(d) && (d as number) >= 0))
      return badInput(`dims of ${name}`)
  }
  return v as TensorMap
}

/** Gives every output its own exactly-sized ArrayBuffer, so transferring one detaches nothing else. */
function detachable(result: RunResult): RunResult {
  const outputs: Record<string, TensorData> = {}
  for (const [name, t] of Object.entries(result.outputs)) {
    const own =
      t.data.buffer instanceof ArrayBuffer &&
      t.data.byteOffset === 0 &&
      t.data.byteLength === t.data.buffer.byteLength
    outputs[name] = { data: own ? t.data : t.data.slice(), dims: [...t.dims] }
  }
  return { outputs, timings: result.timings }
}

/** The ArrayBuffers inside a run result (once each: a buffer listed twice cannot be transferred). */
function transferablesOf(value: unknown): ArrayBuffer[] {
  if (typeof value !== 'object' || value === null || !('outputs' in value)) return []
  const buffers = new Set<ArrayBuffer>()
  for (const t of Object.values(value.outputs as Record<string, TensorData>)) {
    if (t.data.buffer instanceof ArrayBuffer) buffers.add(t.data.buffer)
  }
  return [...buffers]
}

// ---- parsers: the client's view of the worker's answers ----

/** A parser's outcome: the validated value or a 'bad-reply' error. */
export type Parsed<T> = Result<T, RuntimeError>

const bad = (what: string): Parsed<never> => ({
  ok: false,
  error: new RuntimeError('bad-reply', `the runtime worker sent an invalid ${what}`),
})

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === 'string')
const isEp = (v: unknown): v is ExecutionProvider => v === 'wasm' || v === 'webgpu' || v === 'cpu'

/** Opens an envelope: its value, or the error it carries rebuilt as a RuntimeError. */
export function parseReply(reply: unknown): Parsed<unknown> {
  if (!isRecord(reply)) return bad('reply')
  if (reply.type === 'ok' && 'value' in reply) return { ok: true, value: reply.value }
  if (reply.type === 'error' && typeof reply.message === 'string') {
    const code = isRuntimeErrorCode(reply.code) ? reply.code : 'internal'
    return { ok: false, error: new RuntimeError(code, reply.message) }
  }
  return bad('reply')
}

/** Validates `configure`'s answer. */
export function parseEngineInfo(v: unknown): Parsed<EngineInfo> {
  if (
    isRecord(v) &&
    Number.isInteger(v.numThreads) &&
    typeof v.crossOriginIsolated === 'boolean' &&
    typeof v.webgpuApi === 'boolean' &&
    (v.build === 'full' || v.build === 'wasm-only') &&
    typeof v.slowdown === 'number' &&
    typeof v.native === 'boolean'
  ) {
    return { ok: true, value: v as unknown as EngineInfo }
  }
  return bad('engine info')
}

/** Validates `loadModel`'s answer. */
export function parseLoadedModel(v: unknown): Parsed<LoadedModel> {
  if (
    isRecord(v) &&
    typeof v.id === 'string' &&
    isEp(v.executionProvider) &&
    isStringArray(v.inputNames) &&
    isStringArray(v.outputNames) &&
    isFiniteNumber(v.createMs) &&
    isFiniteNumber(v.warmupMs)
  ) {
    return { ok: true, value: v as unknown as LoadedModel }
  }
  return bad('loaded-model answer')
}

/** Validates `run`'s answer: float32 outputs whose dims match their lengths, and timings. */
export function parseRunResult(v: unknown): Parsed<RunResult> {
  if (!isRecord(v) || !isRecord(v.outputs) || !isRecord(v.timings)) return bad('run result')
  if (!isFiniteNumber(v.timings.queuedMs) || !isFiniteNumber(v.timings.runMs))
    return bad('run timings')
  const batchSize = v.timings.batchSize
  if (batchSize !== undefined && !(Number.isInteger(batchSize) && (batchSize as number) >= 1))
    return bad('run batch size')
  for (const t of Object.values(v.outputs)) {
    if (!isRecord(t) || !(t.data instanceof Float32Array) || !Array.isArray(t.dims))
      return bad('output')
    const dims: unknown[] = t.dims
    if (!dims.every((d) => Number.isInteger(d))) return bad('output shape')
    if ((dims as number[]).reduce((a, d) => a * d, 1) !== t.data.length) return bad('output shape')
  }
  return { ok: true, value: v as unknown as RunResult }
}

/** Validates `benchmark`'s answer. */
export function parseBenchmark(v: unknown): Parsed<BenchmarkResult> {
  if (
    isRecord(v) &&
    typeof v.id === 'string' &&
    Array.isArray(v.ms) &&
    v.ms.every(isFiniteNumber)
  ) {
    return { ok: true, value: v as unknown as BenchmarkResult }
  }
  return bad('benchmark result')
}

/** Validates `models`' answer. */
export function parseModelIds(v: unknown): Parsed<string[]> {
  return isStringArray(v) ? { ok: true, value: v } : bad('model list')
}

/** Validates an answer that carries nothing. */
export function parseVoid(v: unknown): Parsed<void> {
  return v === undefined || v === null ? { ok: true, value: undefined } : bad('empty answer')
}
