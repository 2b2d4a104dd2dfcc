import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CohortError, type ErrorCode } from './errors.ts'
import type { Result } from './result.ts'
import {
  type DType,
  decodeTensorFrame,
  elementCount,
  encodedFrameLength,
  encodeTensorFrame,
  encodeTensorFrameInto,
  FRAME_ALIGNMENT,
  FRAME_MAGIC,
  type FrameKind,
  MAX_FRAME_STRING_BYTES,
  MAX_RANK,
  type TensorFrame,
  viewAs,
} from './tensor-frame.ts'
import { PROTOCOL_VERSION } from './version.ts'

// Header offsets as documented in tensor-frame.ts: the tests pin the wire layout, not the code.
const AT_MAGIC = 0
const AT_VERSION = 4
const AT_KIND = 5
const AT_DTYPE = 6
const AT_RANK = 7
const AT_REQUEST_ID_LENGTH = 8
const AT_NAME_LENGTH = 10
const AT_PAYLOAD_LENGTH = 12
const AT_DIMS = 16

const DTYPES: readonly DType[] = ['float32', 'float16', 'uint8', 'int32']
const KINDS: readonly FrameKind[] = ['request', 'response', 'activation']
const WIDTH: Record<DType, number> = { float32: 4, float16: 2, uint8: 1, int32: 4 }
const DECODE_ERROR_CODES: readonly ErrorCode[] = ['bad-frame', 'version-mismatch']

const bytesOf = (array: ArrayBufferView) =>
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength)

/** Builds a frame whose data is a view `lead` elements into its buffer, from raw element bits. */
function buildFrame(
  base: { kind: FrameKind; requestId: string; name: string; dims: number[] },
  dtype: DType,
  bits: readonly number[],
  lead = 0,
): TensorFrame {
  const width = WIDTH[dtype]
  const buffer = new ArrayBuffer((lead + bits.length) * width)
  const view = new DataView(buffer)
  bits.forEach((value, index) => {
    const at = (lead + index) * width
    if (width === 4) view.setUint32(at, value, true)
    else if (width === 2) view.setUint16(at, value, true)
    else view.setUint8(at, value)
  })
  const offset = lead * width
  switch (dtype) {
    case 'float32':
      return { ...base, dtype, data: new Float32Array(buffer, offset, bits.length) }
    case 'float16':
      return { ...base, dtype, data: new Uint16Array(buffer, offset, bits.length) }
    case 'uint8':
      return { ...base, dtype, data: new Uint8Array(buffer, offset, bits.length) }
    case 'int32':
      return { ...base, dtype, data: new Int32Array(buffer, offset, bits.length) }
  }
}

/** Element bits biased towards NaN payloads (quiet and signalling), infinities and -0. */
function elementBits(width: number): fc.Arbitrary<number> {
  if (width === 4) {
    return fc.oneof(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.constantFrom(0x7fc00000, 0x7f800001, 0xffc12345, 0x7fffffff, 0x80000000, 0x7f800000),
    )
  }
  if (width === 2) {
    return fc.oneof(
      fc.integer({ min: 0, max: 0xffff }),
      fc.constantFrom(0x7e00, 0x7c01, 0xfe01, 0x7fff, 0x8000, 0x7c00),
    )
  }
  return fc.integer({ min: 0, max: 0xff })
}

const textArb = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
)
const dimArb = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 19 },
  { arbitrary: fc.constant(0), weight: 1 },
)

const frameArb: fc.Arbitrary<TensorFrame> = fc
  .record({
    kind: fc.constantFrom(...KINDS),
    dtype: fc.constantFrom(...DTYPES),
    dims: fc.array(dimArb, { maxLength: MAX_RANK }),
    requestId: textArb,
    name: textArb,
    lead: fc.integer({ min: 0, max: 3 }),
  })
  .chain(({ dtype, lead, ...base }) => {
    const count = elementCount(base.dims)
    return fc
      .array(elementBits(WIDTH[dtype]), { minLength: count, maxLength: count })
      .map((bits) => buildFrame(base, dtype, bits, lead))
  })

function unwrap<T>(result: Result<T, CohortError>): T {
  if (!result.ok) throw new Error(`expected ok, got ${result.error.code}: ${result.error.message}`)
  return result.value
}

function expectError(result: Result<unknown, CohortError>, code: ErrorCode, message?: RegExp) {
  if (result.ok) throw new Error(`expected a ${code} error, got ok`)
  expect(result.error).toBeInstanceOf(CohortError)
  expect(result.error.code).toBe(code)
  if (message) expect(result.error.message).toMatch(message)
}

function expectWellFormedOutcome(result: Result<TensorFrame, CohortError>) {
  if (result.ok) {
    const { data, dtype, dims } = result.value
    expect(data.length).toBe(elementCount(dims))
    expect(data.byteOffset % WIDTH[dtype]).toBe(0)
  } else {
    expect(result.error).toBeInstanceOf(CohortError)
    expect(DECODE_ERROR_CODES).toContain(result.error.code)
  }
}

function expectThrowsCohortError(action: () => unknown, code: ErrorCode, message?: RegExp) {
  let thrown: unknown
  try {
    action()
  } catch (error) {
    thrown = error
  }
  expect(thrown).toBeInstanceOf(CohortError)
  expect((thrown as CohortError).code).toBe(code)
  if (message) expect((thrown as CohortError).message).toMatch(message)
}

function expectSameFrame(actual: TensorFrame, expected: TensorFrame) {
  expect(actual.kind).toBe(expected.kind)
  expect(actual.requestId).toBe(expected.requestId)
  expect(actual.name).toBe(expected.name)
  expect(actual.dtype).toBe(expected.dtype)
  expect(actual.dims).toEqual(expected.dims)
  expect(actual.data.constructor).toBe(expected.data.constructor)
  expect(actual.data.byteOffset % WIDTH[actual.dtype]).toBe(0)
  // Bytes, not numbers: NaN payloads must survive bit for bit.
  expect(bytesOf(actual.data)).toEqual(bytesOf(expected.data))
}

/** float32 [2, 3] 'logits' for request 'req-1': strings at 24..35, payload at 40..64. */
function sampleFrame(): TensorFrame {
  return {
    kind: 'response',
    requestId: 'req-1',
    name: 'logits',
    dtype: 'float32',
    dims: [2, 3],
    data: new Float32Array([1, -2, 3.5, Number.NaN, Number.POSITIVE_INFINITY, -0]),
  }
}

/** A sample encoding with one header edit applied. */
function sampleWith(edit: (view: DataView, bytes: Uint8Array) => void): Uint8Array {
  const bytes = encodeTensorFrame(sampleFrame())
  edit(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes)
  return bytes
}

describe('tensor frame round trip', () => {
  it('decodes exactly what was encoded, for any dtype, rank, name and payload bits', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        const bytes = encodeTensorFrame(frame)
        expect(bytes.length).toBe(encodedFrameLength(frame))
        expectSameFrame(unwrap(decodeTensorFrame(bytes)), frame)
      }),
      { numRuns: 400 },
    )
  })

  it('writes the documented header', () => {
    const bytes = encodeTensorFrame(sampleFrame())
    const view = new DataView(bytes.buffer)
    expect(view.getUint32(AT_MAGIC)).toBe(FRAME_MAGIC)
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('CHTF')
    expect(view.getUint8(AT_VERSION)).toBe(PROTOCOL_VERSION)
    expect(view.getUint8(AT_KIND)).toBe(2)
    expect(view.getUint8(AT_DTYPE)).toBe(1)
    expect(view.getUint8(AT_RANK)).toBe(2)
    expect(view.getUint16(AT_REQUEST_ID_LENGTH)).toBe(5)
    expect(view.getUint16(AT_NAME_LENGTH)).toBe(6)
    expect(view.getUint32(AT_PAYLOAD_LENGTH)).toBe(24)
    expect([view.getUint32(AT_DIMS), view.getUint32(AT_DIMS + 4)]).toEqual([2, 3])
    expect(new TextDecoder().decode(bytes.subarray(24, 35))).toBe('req-1logits')
    expect([...bytes.subarray(35, 40)]).toEqual([0, 0, 0, 0, 0])
    expect(bytes.length).toBe(64)
  })

  it('round-trips a scalar, an empty tensor and every special float32 bit pattern', () => {
    const scalar = buildFrame(
      { kind: 'request', requestId: '', name: '', dims: [] },
      'float32',
      [0x7f800001],
    )
    const empty = buildFrame(
      { kind: 'activation', requestId: 'r', name: 'x', dims: [4, 0, 2] },
      'int32',
      [],
    )
    const nans = buildFrame(
      { kind: 'response', requestId: 'ñ-请求', name: 'NaN 🧪', dims: [4] },
      'float32',
      [0x7fc00000, 0x7f800001, 0xffffffff, 0xff800001],
    )
    for (const frame of [scalar, empty, nans]) {
      expectSameFrame(unwrap(decodeTensorFrame(encodeTensorFrame(frame))), frame)
    }
  })

  it('accepts strings of exactly the maximum UTF-8 length', () => {
    const longest = '😀'.repeat(MAX_FRAME_STRING_BYTES / 4)
    const frame = buildFrame(
      { kind: 'request', requestId: longest, name: longest, dims: [1] },
      'uint8',
      [7],
    )
    expectSameFrame(unwrap(decodeTensorFrame(encodeTensorFrame(frame))), frame)
  })

  it('encodes into a larger buffer at an offset without touching the bytes around it', () => {
    fc.assert(
      fc.property(frameArb, fc.integer({ min: 0, max: 4 }), (frame, slot) => {
        const offset = slot * FRAME_ALIGNMENT
        const expected = encodeTensorFrame(frame)
        const target = new Uint8Array(offset + expected.length + 8).fill(0xaa)
        expect(encodeTensorFrameInto(frame, target, offset)).toBe(expected.length)
        expect(target.subarray(offset, offset + expected.length)).toEqual(expected)
        expect(target.subarray(0, offset).every((byte) => byte === 0xaa)).toBe(true)
        expect(target.subarray(offset + expected.length).every((byte) => byte === 0xaa)).toBe(true)
      }),
      { numRuns: 200 },
    )
  })
})

describe('tensor frame payload views', () => {
  it('are zero-copy when the input is aligned and copied to an aligned buffer when not', () => {
    fc.assert(
      fc.property(frameArb, fc.integer({ min: 0, max: 7 }), (frame, shift) => {
        const encoded = encodeTensorFrame(frame)
        const buffer = new ArrayBuffer(shift + encoded.length)
        const bytes = new Uint8Array(buffer, shift, encoded.length)
        bytes.set(encoded)
        const decoded = unwrap(decodeTensorFrame(bytes))
        const width = WIDTH[decoded.dtype]
        expect(decoded.data.byteOffset % width).toBe(0)
        expect(decoded.data.buffer === buffer).toBe(shift % width === 0)
        expectSameFrame(decoded, frame)
      }),
      { numRuns: 300 },
    )
  })

  it('views a Float32Array at a 4-aligned offset of the input buffer', () => {
    const bytes = encodeTensorFrame(sampleFrame())
    const decoded = unwrap(decodeTensorFrame(bytes))
    expect(decoded.data).toBeInstanceOf(Float32Array)
    expect(decoded.data.buffer).toBe(bytes.buffer)
    expect(decoded.data.byteOffset).toBe(40)
    expect(decoded.data.byteOffset % 4).toBe(0)
  })

  it('viewAs copies misaligned bytes and views aligned ones', () => {
    const buffer = new ArrayBuffer(16)
    const aligned = viewAs('int32', new Uint8Array(buffer, 4, 8))
    expect(aligned.buffer).toBe(buffer)
    expect(aligned.length).toBe(2)
    const misaligned = viewAs('float16', new Uint8Array(buffer, 3, 4))
    expect(misaligned.buffer).not.toBe(buffer)
    expect(misaligned.byteOffset % 2).toBe(0)
    expect(misaligned.length).toBe(2)
  })
})

describe('decoding malformed tensor frames', () => {
  const cases: [string, () => Uint8Array, ErrorCode, RegExp][] = [
    ['an empty buffer', () => new Uint8Array(0), 'bad-frame', /shorter than the header/],
    ['a cut header', () => encodeTensorFrame(sampleFrame()).subarray(0, 15), 'bad-frame', /header/],
    [
      'a wrong magic',
      () => sampleWith((v) => v.setUint32(AT_MAGIC, 0x43485446 ^ 1)),
      'bad-frame',
      /magic/,
    ],
    [
      'a peer message magic',
      () => sampleWith((v) => v.setUint32(AT_MAGIC, 0x4348504d)),
      'bad-frame',
      /magic/,
    ],
    [
      'a newer version',
      () => sampleWith((v) => v.setUint8(AT_VERSION, PROTOCOL_VERSION + 1)),
      'version-mismatch',
      /version/,
    ],
    [
      'version 0',
      () => sampleWith((v) => v.setUint8(AT_VERSION, 0)),
      'version-mismatch',
      /version 0/,
    ],
    ['kind 0', () => sampleWith((v) => v.setUint8(AT_KIND, 0)), 'bad-frame', /unknown kind 0/],
    ['kind 4', () => sampleWith((v) => v.setUint8(AT_KIND, 4)), 'bad-frame', /unknown kind 4/],
    ['dtype 0', () => sampleWith((v) => v.setUint8(AT_DTYPE, 0)), 'bad-frame', /unknown dtype 0/],
    ['dtype 5', () => sampleWith((v) => v.setUint8(AT_DTYPE, 5)), 'bad-frame', /unknown dtype 5/],
    ['rank 9', () => sampleWith((v) => v.setUint8(AT_RANK, 9)), 'bad-frame', /rank 9 exceeds 8/],
    ['rank 255', () => sampleWith((v) => v.setUint8(AT_RANK, 255)), 'bad-frame', /rank 255/],
    [
      'a request id length over the limit',
      () => sampleWith((v) => v.setUint16(AT_REQUEST_ID_LENGTH, 257)),
      'bad-frame',
      /too long/,
    ],
    [
      'a name length over the limit',
      () => sampleWith((v) => v.setUint16(AT_NAME_LENGTH, 0xffff)),
      'bad-frame',
      /too long/,
    ],
    [
      'one trailing byte',
      () => {
        const bytes = encodeTensorFrame(sampleFrame())
        const longer = new Uint8Array(bytes.length + 1)
        longer.set(bytes)
        return longer
      },
      'bad-frame',
      /length 65 does not match header \(64\)/,
    ],
    [
      'one missing byte',
      () => encodeTensorFrame(sampleFrame()).subarray(0, 63),
      'bad-frame',
      /does not match header/,
    ],
    [
      'a payload length larger than the data',
      () => sampleWith((v) => v.setUint32(AT_PAYLOAD_LENGTH, 28)),
      'bad-frame',
      /does not match header/,
    ],
    [
      'a string length that moves the payload',
      () => sampleWith((v) => v.setUint16(AT_NAME_LENGTH, 14)),
      'bad-frame',
      /does not match header/,
    ],
    [
      'dims that do not fit the payload',
      () => sampleWith((v) => v.setUint32(AT_DIMS, 3)),
      'bad-frame',
      /does not hold shape \[3,3\]/,
    ],
    [
      'dims whose product overflows',
      () =>
        sampleWith((v) => {
          v.setUint32(AT_DIMS, 0xffffffff)
          v.setUint32(AT_DIMS + 4, 0xffffffff)
        }),
      'bad-frame',
      /does not hold shape/,
    ],
    [
      'a dtype that changes the payload size',
      () => sampleWith((v) => v.setUint8(AT_DTYPE, 2)),
      'bad-frame',
      /float16/,
    ],
    [
      'an invalid byte in the name',
      () =>
        sampleWith((_, b) => {
          b[29] = 0xff
        }),
      'bad-frame',
      /UTF-8/,
    ],
    [
      'a UTF-8 encoded surrogate in the name',
      () => sampleWith((_, b) => b.set([0xed, 0xa0, 0x80], 29)),
      'bad-frame',
      /UTF-8/,
    ],
    [
      'an overlong encoding in the request id',
      () => sampleWith((_, b) => b.set([0xc0, 0xaf], 24)),
      'bad-frame',
      /UTF-8/,
    ],
    [
      'a cut multi-byte sequence in the request id',
      () =>
        sampleWith((_, b) => {
          b[28] = 0xe2
        }),
      'bad-frame',
      /UTF-8/,
    ],
  ]

  it.each(cases)('rejects %s', (_, build, code, message) => {
    expectError(decodeTensorFrame(build()), code, message)
  })

  it('rejects every truncation of a valid frame as bad-frame', () => {
    fc.assert(
      fc.property(
        frameArb.chain((frame) => {
          const bytes = encodeTensorFrame(frame)
          return fc.tuple(fc.constant(bytes), fc.integer({ min: 0, max: bytes.length - 1 }))
        }),
        ([bytes, cut]) => {
          expectError(decodeTensorFrame(bytes.subarray(0, cut)), 'bad-frame')
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('decoding arbitrary bytes', () => {
  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        expectWellFormedOutcome(decodeTensorFrame(bytes))
      }),
      { numRuns: 500 },
    )
  })

  it('never throws on random bytes behind a valid magic and version', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (tail) => {
        const bytes = new Uint8Array(5 + tail.length)
        new DataView(bytes.buffer).setUint32(AT_MAGIC, FRAME_MAGIC)
        bytes[AT_VERSION] = PROTOCOL_VERSION
        bytes.set(tail, 5)
        expectWellFormedOutcome(decodeTensorFrame(bytes))
      }),
      { numRuns: 500 },
    )
  })

  it('never throws on a valid frame with a flipped bit, and a flipped payload bit still decodes', () => {
    fc.assert(
      fc.property(
        frameArb.chain((frame) => {
          const bytes = encodeTensorFrame(frame)
          return fc.tuple(fc.constant(bytes), fc.nat({ max: bytes.length * 8 - 1 }))
        }),
        ([encoded, bit]) => {
          const bytes = encoded.slice()
          const at = bit >> 3
          bytes[at] = bytes[at]! ^ (1 << (bit & 7))
          const result = decodeTensorFrame(bytes)
          expectWellFormedOutcome(result)
          const payloadStart = encoded.length - unwrap(decodeTensorFrame(encoded)).data.byteLength
          if (at >= payloadStart) expect(result.ok).toBe(true)
          if (at === AT_VERSION) expectError(result, 'version-mismatch')
          if (at < AT_VERSION) expectError(result, 'bad-frame', /magic/)
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe('encoding inconsistent frames', () => {
  const base = { kind: 'request', requestId: 'r', name: 'x' } as const

  it('throws bad-frame when the payload does not match the dims', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DTYPES),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: -3, max: 3 }).filter((delta) => delta !== 0),
        (dtype, dims, delta) => {
          const count = Math.max(0, elementCount(dims) + delta)
          const frame = buildFrame({ ...base, dims }, dtype, new Array<number>(count).fill(0))
          expectThrowsCohortError(() => encodeTensorFrame(frame), 'bad-frame', /payload has/)
        },
      ),
      { numRuns: 200 },
    )
  })

  const bad: [string, TensorFrame, RegExp][] = [
    ['rank 9', buildFrame({ ...base, dims: Array<number>(9).fill(1) }, 'float32', [0]), /rank 9/],
    ['a negative dim', buildFrame({ ...base, dims: [-1] }, 'uint8', []), /dims/],
    ['a fractional dim', buildFrame({ ...base, dims: [1.5] }, 'uint8', [0]), /dims/],
    ['a NaN dim', buildFrame({ ...base, dims: [Number.NaN] }, 'uint8', []), /dims/],
    ['a dim over 32 bits', buildFrame({ ...base, dims: [2 ** 32, 0] }, 'uint8', []), /dims/],
    [
      'a request id over 256 bytes',
      buildFrame({ ...base, requestId: 'é'.repeat(129), dims: [] }, 'uint8', [0]),
      /request id too long/,
    ],
    [
      'a name over 256 bytes',
      buildFrame({ ...base, name: 'n'.repeat(257), dims: [] }, 'uint8', [0]),
      /name too long/,
    ],
  ]

  it.each(bad)('throws bad-frame for %s', (_, frame, message) => {
    expectThrowsCohortError(() => encodeTensorFrame(frame), 'bad-frame', message)
  })

  it('throws bad-frame when the target is too small', () => {
    const frame = sampleFrame()
    const target = new Uint8Array(encodedFrameLength(frame) + 7)
    expectThrowsCohortError(() => encodeTensorFrameInto(frame, target, 8), 'bad-frame', /too small/)
  })
})
