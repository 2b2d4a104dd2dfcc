import type { Manifest } from '@cohort/protocol'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { RunResult } from './api.ts'
import { measureDeviceProfile, plannerProfile, twinKey } from './device-profile.ts'
import { chooseNodeExecutionProvider } from './ep-choice.ts'
import { randomInputs } from './inputs.ts'
import { nodeRuntime } from './node.ts'
import type { ReferenceCase } from './reference-check.ts'
import {
  expectReferenceOutputs,
  loadShippedModels,
  readPublic,
  SHIPPED_TASKS,
  shippedTask,
} from './testing/shipped-task.ts'

// The shipped models on onnxruntime-node's CPU provider, as Node devices run them: the same
// reference outputs as PyTorch (and so as the browsers' WASM), and the provider choice.

describe.each(SHIPPED_TASKS)('%s models on onnxruntime-node', (task) => {
  const runtime = nodeRuntime()
  let manifest: Manifest
  let cases: ReferenceCase[]

  beforeAll(async () => {
    ;({ manifest, cases } = shippedTask(task))
    const info = await runtime.configure({ numThreads: 1 })
    expect(info.native).toBe(true)
    await loadShippedModels(runtime, manifest, 'cpu')
  }, 120_000)
  afterAll(async () => {
    for (const id of await runtime.models()) await runtime.unload(id)
  })

  test('every model matches the PyTorch reference outputs', async () => {
    await expectReferenceOutputs(runtime, cases)
  })

  test('runs queued together are batched and each gets its own rows', async () => {
    const model = manifest.models[0]
    if (!model) throw new Error('no models')
    const inputs = Array.from({ length: 8 }, (_, i) => randomInputs(model.inputs, i + 1))
    const alone: RunResult[] = []
    for (const input of inputs) alone.push(await runtime.run(model.id, input))
    const together = await Promise.all(inputs.map((input) => runtime.run(model.id, input)))
    expect(Math.max(...together.map((out) => out.timings.batchSize ?? 1))).toBeGreaterThan(1)
    together.forEach((out, i) => {
      for (const [name, tensor] of Object.entries(out.outputs)) {
        const solo = alone[i]?.outputs[name]
        expect(tensor.dims).toEqual(solo?.dims)
        tensor.data.forEach((value, j) => {
          expect(Math.abs(value - (solo?.data[j] ?? Number.NaN))).toBeLessThanOrEqual(1e-5)
        })
      }
    })
  })

  test('the provider choice measures both engines and says which won', async () => {
    const teacher = manifest.models.find((m) => m.id === manifest.teacher.model)
    if (!teacher) throw new Error('no teacher')
    const choice = await chooseNodeExecutionProvider(runtime, {
      modelId: teacher.id,
      bytes: readPublic(teacher.file).slice().buffer,
      inputs: teacher.inputs,
      runs: 5,
      threads: 1,
    })
    expect(choice.medianMs.cpu).toBeGreaterThan(0)
    expect(choice.medianMs.wasm).toBeGreaterThan(0)
    const faster = (choice.medianMs.cpu ?? 0) <= (choice.medianMs.wasm ?? 0) ? 'cpu' : 'wasm'
    expect(choice.executionProvider).toBe(faster)
    expect(choice.reason).toMatch(/onnxruntime-node .* ms vs onnxruntime-web WASM .* ms/)
    expect((await runtime.models()).some((id) => id.startsWith('calibrate-'))).toBe(false)
  })

  test('the profile says Node, measures each set of twin students once, and passes the planner schema', async () => {
    const profile = await measureDeviceProfile(runtime, {
      task,
      label: 'Node test',
      executionProvider: 'cpu',
      epReason: 'test',
      threads: 1,
      models: manifest.models.map((m) => ({ id: m.id, inputs: m.inputs, twin: twinKey(m) })),
      runs: 3,
      platform: 'node',
      cores: 2,
      memoryGb: 24,
    })
    // The K students of a set are measured on the first: 18 models, 12 measured.
    const measured = profile.models.filter((m) => m.measuredOn === undefined)
    expect(measured.map((m) => m.modelId)).not.toContain('student-4-3')
    expect(measured).toHaveLength(new Set(manifest.models.map(twinKey)).size)
    expect(measured.length).toBeLessThan(manifest.models.length)
    const twin = profile.models.find((m) => m.modelId === 'student-4-3')
    expect(twin?.measuredOn).toBe('student-4-0')
    expect(profile.msPerModel['student-4-3']).toBe(profile.msPerModel['student-4-0'])
    const wire = plannerProfile(profile)
    expect(wire.ok).toBe(true)
    if (!wire.ok) return
    expect(wire.value).toMatchObject({ platform: 'node', executionProvider: 'cpu', cores: 2 })
    expect(Object.keys(wire.value.msPerModel).sort()).toEqual(
      manifest.models.map((m) => m.id).sort(),
    )
  })
})
