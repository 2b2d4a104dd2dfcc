/**
 * Activation quantization for early-exit transfer: uint8 with a per-sample min and scale.
 * The spec lives in training/README.md; training/cohort_train/quantize.py is the Python twin.
 * Every step rounds to float32 (Math.fround) exactly where numpy's float32 arithmetic does, so both
 * sides produce identical bytes for identical float32 input.
 */

/** Number of quantization steps above the per-sample minimum. */
export const QUANT_LEVELS = 255

/** One batch of quantized activations: `count` samples of `sampleSize` values each. */
export interface QuantizedActivation {
  /** Quantized values, sample-major, `count * sampleSize` bytes. */
  readonly q: Uint8Array
  /** Per-sample minimum (the value q = 0 stands for). */
  readonly min: Float32Array
  /** Per-sample step between consecutive q values. */
  readonly scale: Float32Array
  /** Values per sample (C*H*W). */
  readonly sampleSize: number
}

/** Quantizes `count` samples of float32 activations (all values must be finite). */
export function quantizeActivation(x: Float32Array, count: number): QuantizedActivation {
  if (count <= 0 || x.length % count !== 0) {
    throw new RangeError(`cannot split ${x.length} values into ${count} samples`)
  }
  const sampleSize = x.length / count
  const q = new Uint8Array(x.length)
  const min = new Float32Array(count)
  const scale = new Float32Array(count)
  for (let n = 0; n < count; n++) {
    const start = n * sampleSize
    let lo = Number.POSITIVE_INFINITY
    let hi = Number.NEGATIVE_INFINITY
    for (let i = start; i < start + sampleSize; i++) {
      const v = x[i] as number
      if (v < lo) lo = v
      if (v > hi) hi = v
    }
    let s = Math.fround(Math.fround(hi - lo) / QUANT_LEVELS)
    if (!(Number.isFinite(s) && s > 0)) s = 1
    min[n] = lo
    scale[n] = s
    for (let i = start; i < start + sampleSize; i++) {
      const v = Math.fround(Math.fround((x[i] as number) - lo) / s)
      const r = Math.floor(v + 0.5)
      q[i] = Math.max(0, Math.min(r, QUANT_LEVELS))
    }
  }
  return { q, min, scale, sampleSize }
}

/** Reconstructs float32 activations: x' = f32(f32(q * scale) + min) per value. */
export function dequantizeActivation(a: QuantizedActivation): Float32Array {
  const out = new Float32Array(a.q.length)
  const count = a.min.length
  for (let n = 0; n < count; n++) {
    const lo = a.min[n] as number
    const s = a.scale[n] as number
    const start = n * a.sampleSize
    for (let i = start; i < start + a.sampleSize; i++) {
      out[i] = Math.fround(Math.fround((a.q[i] as number) * s) + lo)
    }
  }
  return out
}
