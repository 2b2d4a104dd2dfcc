import { median } from '@cohort/protocol'
import type { ExecutionProvider, InputSpec, RuntimeApi, TensorMap } from './api.ts'
import { zeroInputs } from './inputs.ts'
import { toRuntimeError } from './runtime-error.ts'

/**
 * Chooses the execution provider by measuring, never by availability alone: a headless or
 * GPU-less browser may offer WebGPU on a software adapter (SwiftShader) that is ~1000x slower
 * than WASM. WASM is always measured; WebGPU only on a hardware adapter; the faster wins.
 */

/** What the browser says about WebGPU. */
export interface WebGpuProbe {
  /** Some adapter exists (perhaps a software one): the WebGPU-capable engine build can be used. */
  readonly adapterFound: boolean
  /** A hardware adapter exists, so WebGPU is worth measuring. */
  readonly usable: boolean
  /** Why (not), in words. */
  readonly detail: string
}

/** The decision and the measurements behind it. */
export interface EpChoice {
  readonly executionProvider: ExecutionProvider
  readonly threads: number
  readonly reason: string
  /** Median ms per calibration run for each provider measured (null: not measured or failed). */
  readonly medianMs: {
    readonly wasm: number | null
    readonly webgpu: number | null
    /** onnxruntime-node's CPU provider (Node devices only). */
    readonly cpu?: number | null
  }
  readonly webgpu: WebGpuProbe
}

/** The model and settings of the calibration run. */
export interface Calibration {
  readonly modelId: string
  readonly bytes: ArrayBuffer
  readonly inputs: readonly InputSpec[]
  /** Timed runs per provider after warm-up (default 20). */
  readonly runs?: number
  /** WASM threads the engine was configured with. */
  readonly threads: number
}

interface AdapterInfoLike {
  readonly vendor?: string
  readonly architecture?: string
  readonly description?: string
  readonly device?: string
  readonly isFallbackAdapter?: boolean
}
interface AdapterLike {
  readonly info?: AdapterInfoLike
  readonly isFallbackAdapter?: boolean
  requestAdapterInfo?(): Promise<AdapterInfoLike>
}

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|warp|basic render|software/i

/** Asks for a WebGPU adapter and decides whether it is a real GPU. Never throws. */
export async function probeWebGpu(
  gpu: unknown = globalThis.navigator && Reflect.get(navigator, 'gpu'),
): Promise<WebGpuProbe> {
  if (
    typeof gpu !== 'object' ||
    gpu === null ||
    typeof Reflect.get(gpu, 'requestAdapter') !== 'function'
  ) {
    return {
      adapterFound: false,
      usable: false,
      detail:
        'this browser has no WebGPU (navigator.gpu is missing; it also needs a secure context)',
    }
  }
  let adapter: AdapterLike | null
  try {
    const requestAdapter = Reflect.get(gpu, 'requestAdapter') as (
      options: object,
    ) => Promise<AdapterLike | null>
    adapter = await requestAdapter.call(gpu, { powerPreference: 'high-performance' })
  } catch (error) {
    return {
      adapterFound: false,
      usable: false,
      detail: `requestAdapter failed: ${toRuntimeError(error).message}`,
    }
  }
  if (!adapter)
    return {
      adapterFound: false,
      usable: false,
      detail: 'no WebGPU adapter (no usable GPU, or WebGPU is disabled)',
    }
  let info: AdapterInfoLike = adapter.info ?? {}
  if (!adapter.info && typeof adapter.requestAdapterInfo === 'function') {
    info = await adapter.requestAdapterInfo().catch(() => ({}))
  }
  const name =
    [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') ||
    'unnamed adapter'
  if (
    info.isFallbackAdapter === true ||
    adapter.isFallbackAdapter === true ||
    SOFTWARE_ADAPTER.test(name)
  ) {
    return {
      adapterFound: true,
      usable: false,
      detail: `the WebGPU adapter (${name}) is a software fallback, not a GPU`,
    }
  }
  return { adapterFound: true, usable: true, detail: `WebGPU adapter: ${name}` }
}

/** Measures WASM and (on a hardware adapter) WebGPU on the calibration model; the faster wins. */
export async function chooseExecutionProvider(
  runtime: RuntimeApi,
  calibration: Calibration,
  webgpu: WebGpuProbe,
): Promise<EpChoice> {
  const runs = calibration.runs ?? 20
  const wasm = await measure(runtime, calibration, 'wasm', runs)
  if (!wasm.ok) throw wasm.error
  const base = { threads: calibration.threads, webgpu }
  const wasmText = `WASM (${calibration.threads} thread${calibration.threads === 1 ? '' : 's'}) ${wasm.ms.toFixed(3)} ms`
  if (!webgpu.usable) {
    return {
      ...base,
      executionProvider: 'wasm',
      reason: `${wasmText}; WebGPU not measured: ${webgpu.detail}`,
      medianMs: { wasm: wasm.ms, webgpu: null },
    }
  }
  const gpu = await measure(runtime, calibration, 'webgpu', runs)
  if (!gpu.ok) {
    return {
      ...base,
      executionProvider: 'wasm',
      reason: `${wasmText}; WebGPU failed on ${calibration.modelId}: ${gpu.error.message}`,
      medianMs: { wasm: wasm.ms, webgpu: null },
    }
  }
  const winner: ExecutionProvider = gpu.ms < wasm.ms ? 'webgpu' : 'wasm'
  return {
    ...base,
    executionProvider: winner,
    reason: `${winner === 'webgpu' ? 'WebGPU' : 'WASM'} is faster on ${calibration.modelId}: WebGPU ${gpu.ms.toFixed(3)} ms vs ${wasmText} (median of ${runs})`,
    medianMs: { wasm: wasm.ms, webgpu: gpu.ms },
  }
}

/** What a Node device says about WebGPU: there is none. */
export const NO_WEBGPU_IN_NODE: WebGpuProbe = {
  adapterFound: false,
  usable: false,
  detail: 'Node has no WebGPU',
}

/**
 * A Node device's choice: onnxruntime-node's native CPU provider against onnxruntime-web's WASM
 * build in the same process, measured on the calibration model; the faster wins.
 */
export async function chooseNodeExecutionProvider(
  runtime: RuntimeApi,
  calibration: Calibration,
): Promise<EpChoice> {
  const runs = calibration.runs ?? 20
  const [native, wasm] = [
    await measure(runtime, calibration, 'cpu', runs),
    await measure(runtime, calibration, 'wasm', runs),
  ]
  if (!native.ok && !wasm.ok) throw native.error
  const base = { threads: calibration.threads, webgpu: NO_WEBGPU_IN_NODE }
  const nativeText = native.ok
    ? `onnxruntime-node ${native.ms.toFixed(3)} ms`
    : `onnxruntime-node failed: ${native.error.message}`
  const wasmText = wasm.ok
    ? `onnxruntime-web WASM ${wasm.ms.toFixed(3)} ms`
    : `onnxruntime-web WASM failed: ${wasm.error.message}`
  const winner: ExecutionProvider = native.ok && (!wasm.ok || native.ms <= wasm.ms) ? 'cpu' : 'wasm'
  return {
    ...base,
    executionProvider: winner,
    reason: `${winner === 'cpu' ? 'onnxruntime-node' : 'onnxruntime-web WASM'} is faster on ${calibration.modelId}: ${nativeText} vs ${wasmText} (median of ${runs})`,
    medianMs: { wasm: wasm.ok ? wasm.ms : null, webgpu: null, cpu: native.ok ? native.ms : null },
  }
}

async function measure(
  runtime: RuntimeApi,
  calibration: Calibration,
  ep: ExecutionProvider,
  runs: number,
): Promise<{ ok: true; ms: number } | { ok: false; error: Error }> {
  const id = `calibrate-${ep}-${calibration.modelId}`
  try {
    await runtime.loadModel(id, calibration.bytes, {
      executionProvider: ep,
      inputs: calibration.inputs,
      warmupRuns: 2,
    })
    const inputs: TensorMap = zeroInputs(calibration.inputs)
    const bench = await runtime.benchmark(id, inputs, runs)
    return { ok: true, ms: median(bench.ms) }
  } catch (error) {
    return { ok: false, error: toRuntimeError(error) }
  } finally {
    await runtime.unload(id).catch(() => undefined)
  }
}
