/**
 * The two engines a Node device chooses between, per shipped model, in this process: raw
 * back-to-back runs (the runtime's `benchmark`, no messaging) on onnxruntime-node's native CPU
 * provider and on onnxruntime-web's WASM build, at batch 1 and at batch 64, one thread each.
 * The runs of both engines alternate in rounds, so drift on the shared cores hits both alike.
 */
import { readFileSync } from 'node:fs'
import { median, parseManifest, quantile } from '@cohort/protocol'
import { nodeRuntime, randomInputs } from '@cohort/runtime/node'
import type { EngineResult } from './report-types.ts'

const ROUNDS = 5
const BATCHES = [1, 64] as const

/** Measures every model of `task` on both engines; `runs` per model, engine and batch. */
export async function measureEngines(options: {
  task: string
  runs: number
}): Promise<EngineResult[]> {
  const parsed = parseManifest(
    JSON.parse(readFileSync(`public/models/${options.task}/manifest.json`, 'utf8')),
  )
  if (!parsed.ok) throw new Error(parsed.error)
  const runtime = nodeRuntime()
  await runtime.configure({ numThreads: 1 })
  const results: EngineResult[] = []
  for (const model of parsed.value.models) {
    const bytes = new Uint8Array(readFileSync(`public/${model.file}`))
    for (const ep of ['cpu', 'wasm'] as const) {
      await runtime.loadModel(`${ep}:${model.id}`, bytes.slice().buffer, {
        executionProvider: ep,
        inputs: model.inputs,
      })
    }
    for (const batch of BATCHES) {
      const inputs = randomInputs(
        model.inputs.map((input) => ({
          ...input,
          shape: input.shape.map((d) => (d === 'batch' ? batch : d)),
        })),
        1,
      )
      const ms = { cpu: [] as number[], wasm: [] as number[] }
      const perRound = Math.max(1, Math.ceil(options.runs / ROUNDS / (batch === 1 ? 1 : 8)))
      for (let round = 0; round < ROUNDS; round++) {
        for (const ep of ['cpu', 'wasm'] as const) {
          ms[ep].push(...(await runtime.benchmark(`${ep}:${model.id}`, inputs, perRound)).ms)
        }
      }
      results.push({
        modelId: model.id,
        batch,
        native: { p50Ms: median(ms.cpu), p95Ms: quantile(ms.cpu, 0.95) },
        wasm: { p50Ms: median(ms.wasm), p95Ms: quantile(ms.wasm, 0.95) },
        runs: ms.cpu.length,
      })
    }
    for (const ep of ['cpu', 'wasm'] as const) await runtime.unload(`${ep}:${model.id}`)
  }
  return results
}
