import type { ReferenceEntry, TensorDType } from './manifest.ts'
import { err, ok, type Result } from './result.ts'

/**
 * Readers for the data files a manifest lists (formats documented in training/README.md).
 *
 * Sample file (public/data/<task>-test.bin), little-endian:
 *   0  4  magic 'CHDS'      4  4  version (1)   8  4  count
 *   12 4  height            16 4  width         20 4  channels
 *   24    count*height*width*channels uint8 pixels, then count uint8 labels
 *
 * Reference file (public/data/<task>-reference.bin): magic 'CHRF', version, count, entry count
 * (u32 each), then tensors at the byte offsets the manifest's reference entries list.
 */

/** 'CHDS' read as a little-endian u32. */
export const SAMPLE_MAGIC = 0x53444843
/** 'CHRF' read as a little-endian u32. */
export const REFERENCE_MAGIC = 0x46524843
/** The only data file version written so far. */
export const DATA_FORMAT_VERSION = 1
const SAMPLE_HEADER_BYTES = 24
const REFERENCE_HEADER_BYTES = 16

/** Labelled uint8 images. */
export interface SampleSet {
  readonly count: number
  readonly height: number
  readonly width: number
  readonly channels: number
  /** count * height * width * channels pixels, sample-major. */
  readonly pixels: Uint8Array
  readonly labels: Uint8Array
}

/** Parses a sample file. */
export function parseSampleSet(bytes: Uint8Array): Result<SampleSet, string> {
  if (bytes.byteLength < SAMPLE_HEADER_BYTES) return err('sample file shorter than its header')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== SAMPLE_MAGIC) return err('not a sample file (magic)')
  const version = view.getUint32(4, true)
  if (version !== DATA_FORMAT_VERSION) return err(`unsupported sample file version ${version}`)
  const count = view.getUint32(8, true)
  const height = view.getUint32(12, true)
  const width = view.getUint32(16, true)
  const channels = view.getUint32(20, true)
  const size = count * height * width * channels
  if (bytes.byteLength !== SAMPLE_HEADER_BYTES + size + count) {
    return err(`sample file should be ${SAMPLE_HEADER_BYTES + size + count} bytes`)
  }
  const pixels = bytes.subarray(SAMPLE_HEADER_BYTES, SAMPLE_HEADER_BYTES + size)
  const labels = bytes.subarray(SAMPLE_HEADER_BYTES + size)
  return ok({ count, height, width, channels, pixels, labels })
}

/**
 * Model input for samples [start, start + n): float32 pixel * pixelScale, NCHW, rounded to float32
 * exactly as training does (f32(pixel / 255) for pixelScale = 1/255).
 */
export function sampleInput(
  set: SampleSet,
  start: number,
  n: number,
  pixelScale: number,
): Float32Array {
  const per = set.height * set.width * set.channels
  if (start < 0 || n < 0 || start + n > set.count) throw new RangeError('samples out of range')
  const out = new Float32Array(n * per)
  const divisor = Math.round(1 / pixelScale)
  const exact = Math.abs(1 / divisor - pixelScale) < 1e-15
  const src = set.pixels.subarray(start * per, (start + n) * per)
  for (let i = 0; i < src.length; i++) {
    const p = src[i] as number
    out[i] = exact ? p / divisor : p * pixelScale
  }
  return out
}

/** A reference tensor as stored: float32 or uint8 elements. */
export type ReferenceTensor =
  | { readonly dtype: 'float32'; readonly shape: readonly number[]; readonly data: Float32Array }
  | { readonly dtype: 'uint8'; readonly shape: readonly number[]; readonly data: Uint8Array }

/** Parses a reference file into its tensors, keyed by entry id (copies, so alignment never matters). */
export function parseReference(
  bytes: Uint8Array,
  entries: readonly ReferenceEntry[],
): Result<Map<string, ReferenceTensor>, string> {
  if (bytes.byteLength < REFERENCE_HEADER_BYTES)
    return err('reference file shorter than its header')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== REFERENCE_MAGIC) return err('not a reference file (magic)')
  if (view.getUint32(4, true) !== DATA_FORMAT_VERSION) return err('unsupported reference version')
  if (view.getUint32(12, true) !== entries.length) return err('reference entry count differs')
  const out = new Map<string, ReferenceTensor>()
  for (const e of entries) {
    if (e.offset + e.bytes > bytes.byteLength) return err(`reference ${e.id} outside the file`)
    const copy = bytes.slice(e.offset, e.offset + e.bytes)
    out.set(e.id, tensorOf(e.dtype, e.shape, copy.buffer))
  }
  return ok(out)
}

function tensorOf(
  dtype: TensorDType,
  shape: readonly number[],
  buffer: ArrayBuffer,
): ReferenceTensor {
  return dtype === 'float32'
    ? { dtype, shape, data: new Float32Array(buffer) }
    : { dtype, shape, data: new Uint8Array(buffer) }
}
