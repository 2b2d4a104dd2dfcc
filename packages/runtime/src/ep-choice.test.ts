import { describe, expect, test } from 'vitest'
import type { ExecutionProvider, LoadOptions, RuntimeApi } from './api.ts'
import { chooseExecutionProvider, type WebGpuProbe } from './ep-choice.ts'

// The decision logic against a runtime whose speeds are scripted (reference-check.test.ts runs it
// on the real engine).

function scripted(ms: Partial<Record<ExecutionProvider, number>>, failWebGpu = false) {
  const providers = new Map<string, ExecutionProvider>()
  const unloaded: string[] = []
  const runtime: RuntimeApi = {
    configure: () => Promise.reject(new Error('unused')),
    loadModel: (id: string, _bytes: ArrayBuffer, options: LoadOptions) => {
      if (failWebGpu && options.executionProvider === 'webgpu') {
        return Promise.reject(new Error('no available backend found'))
      }
      providers.set(id, options.executionProvider)
      return Promise.resolve({
        id,
        executionProvider: options.executionProvider,
        inputNames: ['input'],
        outputNames: ['logits'],
        createMs: 1,
        warmupMs: 1,
      })
    },
    run: () => Promise.reject(new Error('unused')),
    benchmark: (id, _inputs, runs) =>
      Promise.resolve({
        id,
        ms: Array.from({ length: runs }, () => ms[providers.get(id) ?? 'wasm'] ?? 1),
      }),
    unload: (id) => {
      unloaded.push(id)
      return Promise.resolve()
    },
    models: () => Promise.resolve([]),
  }
  return { runtime, unloaded }
}

const calibration = {
  modelId: 'teacher',
  bytes: new ArrayBuffer(8),
  inputs: [{ name: 'input', shape: ['batch', 4] as (number | 'batch')[] }],
  runs: 5,
  threads: 4,
}
const gpu: WebGpuProbe = {
  adapterFound: true,
  usable: true,
  detail: 'WebGPU adapter: nvidia ampere',
}

describe('chooseExecutionProvider', () => {
  test('WebGPU on a hardware adapter wins only when it measures faster', async () => {
    const fast = scripted({ wasm: 2, webgpu: 0.5 })
    const won = await chooseExecutionProvider(fast.runtime, calibration, gpu)
    expect(won).toMatchObject({
      executionProvider: 'webgpu',
      threads: 4,
      medianMs: { wasm: 2, webgpu: 0.5 },
    })
    expect(won.reason).toMatch(/WebGPU is faster/)
    expect(fast.unloaded).toHaveLength(2)

    const slow = scripted({ wasm: 0.3, webgpu: 0.9 })
    const lost = await chooseExecutionProvider(slow.runtime, calibration, gpu)
    expect(lost).toMatchObject({ executionProvider: 'wasm', medianMs: { wasm: 0.3, webgpu: 0.9 } })
    expect(lost.reason).toMatch(/WASM is faster/)
  })

  test('a software adapter is not measured at all, however fast it claims to be', async () => {
    const { runtime } = scripted({ wasm: 2, webgpu: 0.001 })
    const software: WebGpuProbe = {
      adapterFound: true,
      usable: false,
      detail: 'the WebGPU adapter (google swiftshader) is a software fallback, not a GPU',
    }
    const choice = await chooseExecutionProvider(runtime, calibration, software)
    expect(choice).toMatchObject({ executionProvider: 'wasm', medianMs: { webgpu: null } })
    expect(choice.reason).toContain('software fallback')
  })

  test('a WebGPU session that fails leaves WASM chosen, with the failure as the reason', async () => {
    const { runtime } = scripted({ wasm: 2 }, true)
    const choice = await chooseExecutionProvider(runtime, calibration, gpu)
    expect(choice.executionProvider).toBe('wasm')
    expect(choice.reason).toMatch(/WebGPU failed on teacher: no available backend found/)
  })
})
