import type { Manifest } from '@cohort/protocol'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { measureDeviceProfile, plannerProfile } from './device-profile.ts'
import { chooseExecutionProvider, probeWebGpu } from './ep-choice.ts'
import { LocalRuntime } from './local-runtime.ts'
import { compareWithReference, type ReferenceCase } from './reference-check.ts'
import {
  expectReferenceOutputs,
  loadShippedModels,
  readPublic,
  SHIPPED_TASKS,
  shippedTask,
} from './testing/shipped-task.ts'

// The shipped models through the runtime (not just the engine): reference outputs, many
// concurrent runs on the same sessions, the provider choice and the device profile.

test('at least the digits task is shipped', () => {
  expect(SHIPPED_TASKS).toContain('digits')
})

describe.each(SHIPPED_TASKS)('%s models through LocalRuntime', (task) => {
  const runtime = new LocalRuntime()
  let manifest: Manifest
  let cases: ReferenceCase[]

  beforeAll(async () => {
    ;({ manifest, cases } = shippedTask(task))
    await runtime.configure({ numThreads: 1 })
    await loadShippedModels(runtime, manifest, 'wasm')
  }, 120_000)
  afterAll(async () => {
    for (const id of await runtime.models()) await runtime.unload(id)
  })

  test('every model matches the PyTorch reference outputs', async () => {
    await expectReferenceOutputs(runtime, cases)
  })

  test('concurrent runs on every session at once stay correct', async () => {
    const rounds = 3
    const runs = cases.flatMap((c) => Array.from({ length: rounds }, () => c))
    // Interleave models and repeat each, all in flight together.
    const outs = await Promise.all(runs.map((c) => runtime.run(c.modelId, c.inputs)))
    outs.forEach((out, i) => {
      const c = runs[i] as ReferenceCase
      expect(
        compareWithReference(c, out.outputs).maxAbsDiff,
        `${c.modelId} #${i}`,
      ).toBeLessThanOrEqual(1e-4)
    })
  })

  test('the provider choice measures WASM and reports why WebGPU was not taken', async () => {
    const teacher = manifest.models.find((m) => m.id === manifest.teacher.model)
    if (!teacher) throw new Error('no teacher')
    const calibration = {
      modelId: teacher.id,
      bytes: readPublic(teacher.file).slice().buffer,
      inputs: teacher.inputs,
      runs: 5,
      threads: 1,
    }
    const none = await chooseExecutionProvider(runtime, calibration, await probeWebGpu(undefined))
    expect(none).toMatchObject({
      executionProvider: 'wasm',
      threads: 1,
      medianMs: { webgpu: null },
    })
    expect(none.reason).toMatch(/WebGPU not measured: this browser has no WebGPU/)
    // A software adapter is never taken for a GPU, whatever it is called.
    const swiftshader = {
      requestAdapter: () =>
        Promise.resolve({
          info: { vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: false },
        }),
    }
    const software = await probeWebGpu(swiftshader)
    expect(software).toMatchObject({ usable: false })
    expect(software.detail).toMatch(/software fallback/)
    const fallback = await probeWebGpu({
      requestAdapter: () => Promise.resolve({ info: { vendor: 'x', isFallbackAdapter: true } }),
    })
    expect(fallback.usable).toBe(false)
    expect((await probeWebGpu({ requestAdapter: () => Promise.resolve(null) })).usable).toBe(false)
    const hardware = await probeWebGpu({
      requestAdapter: () => Promise.resolve({ info: { vendor: 'nvidia', architecture: 'ampere' } }),
    })
    expect(hardware.usable).toBe(true)
    // A "hardware" adapter in Node: the WebGPU session fails, and WASM is chosen with that reason.
    const failed = await chooseExecutionProvider(runtime, calibration, hardware)
    expect(failed.executionProvider).toBe('wasm')
    expect(failed.reason).toMatch(/WebGPU failed/)
    // Calibration sessions do not linger.
    expect((await runtime.models()).some((id) => id.startsWith('calibrate-'))).toBe(false)
  })

  test('the device profile has a positive median for every model', async () => {
    const profile = await measureDeviceProfile(runtime, {
      task,
      label: 'Node test',
      executionProvider: 'wasm',
      epReason: 'test',
      threads: 1,
      models: manifest.models.map((m) => ({ id: m.id, inputs: m.inputs })),
      runs: 3,
    })
    expect(Object.keys(profile.msPerModel).sort()).toEqual(manifest.models.map((m) => m.id).sort())
    for (const m of profile.models) {
      expect(m.medianMs).toBeGreaterThan(0)
      expect(m.p95Ms).toBeGreaterThanOrEqual(0)
      expect(m.runs).toBe(3)
    }
    expect(profile.cores === null || profile.cores > 0).toBe(true)
    const wire = plannerProfile(profile)
    expect(wire.ok && wire.value.msPerModel).toEqual(profile.msPerModel)
  })
})
