import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { LoadOptions } from '../api.ts'

// tiny.onnx (test-fixtures/make-tiny.py): logits = input @ W + b, input [batch, 4], logits [batch, 3].
const W = [
  [1, 0, -1],
  [2, 1, 0],
  [0, 3, 1],
  [-1, 0, 2],
]
/** The fixture's bias: its logits for an all-zero row. */
export const TINY_BIAS = [0.5, -0.5, 0.25]
const TINY = readFileSync(fileURLToPath(new URL('../../test-fixtures/tiny.onnx', import.meta.url)))

/** How to load the fixture on WASM. */
export const TINY_OPTIONS: LoadOptions = {
  executionProvider: 'wasm',
  inputs: [{ name: 'input', shape: ['batch', 4] }],
}

/** A fresh ArrayBuffer holding the fixture (a load may take ownership of what it is given). */
export const tinyBytes = (): ArrayBuffer => new Uint8Array(TINY).buffer

/** The fixture's logits for `rows`, computed here rather than by ORT. */
export function tinyLogits(rows: readonly (readonly number[])[]): number[] {
  return rows.flatMap((x) =>
    TINY_BIAS.map((b, j) => x.reduce((acc, xi, i) => acc + xi * (W[i]?.[j] ?? 0), b)),
  )
}

/** Integer-valued rows (so float32 results are exact), different per seed. */
export function rowsFor(seed: number, n: number): number[][] {
  return Array.from({ length: n }, (_, r) =>
    [0, 1, 2, 3].map((i) => ((seed * 7 + r * 3 + i * 5) % 11) - 5),
  )
}

/** The fixture's input tensor for `rows`. */
export function tinyInput(rows: readonly (readonly number[])[]) {
  return { input: { data: new Float32Array(rows.flat()), dims: [rows.length, 4] } }
}
