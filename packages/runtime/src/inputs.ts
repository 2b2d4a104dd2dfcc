import type { InputSpec, TensorData } from './api.ts'

/** Batch-1 dims of an input spec ('batch' becomes 1). */
export function batchOneDims(spec: InputSpec): number[] {
  return spec.shape.map((d) => (d === 'batch' ? 1 : d))
}

/** Zero tensors (batch 1) for the given inputs: enough to warm a session up. */
export function zeroInputs(inputs: readonly InputSpec[]): Record<string, TensorData> {
  const out: Record<string, TensorData> = {}
  for (const spec of inputs) {
    const dims = batchOneDims(spec)
    out[spec.name] = { data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims }
  }
  return out
}

/** Deterministic values in [0, 1) (batch 1) for the given inputs: timing runs on non-trivial data. */
export function randomInputs(inputs: readonly InputSpec[], seed = 1): Record<string, TensorData> {
  let state = seed >>> 0 || 1
  // xorshift32: cheap, reproducible, and good enough for timing inputs.
  const next = () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 2 ** 32
  }
  const out: Record<string, TensorData> = {}
  for (const spec of inputs) {
    const dims = batchOneDims(spec)
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1))
    for (let i = 0; i < data.length; i++) data[i] = next()
    out[spec.name] = { data, dims }
  }
  return out
}
