import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CohortError, type ErrorCode, ErrorCodeSchema } from './errors.ts'
import { RequestIdSchema } from './ids.ts'
import {
  decodePeerMessage,
  encodePeerMessage,
  MAX_FRAMES_PER_MESSAGE,
  MAX_META_BYTES,
  PEER_MESSAGE_MAGIC,
  type PeerMessage,
  type PeerMeta,
} from './peer-message.ts'
import type { Result } from './result.ts'
import {
  type DType,
  elementCount,
  encodeTensorFrame,
  FRAME_MAGIC,
  type FrameKind,
  type TensorFrame,
} from './tensor-frame.ts'
import { PROTOCOL_VERSION } from './version.ts'

const DTYPES: readonly DType[] = ['float32', 'float16', 'uint8', 'int32']
const KINDS: readonly FrameKind[] = ['request', 'response', 'activation']
const WIDTH: Record<DType, number> = { float32: 4, float16: 2, uint8: 1, int32: 4 }
const DECODE_ERROR_CODES: readonly ErrorCode[] = ['bad-frame', 'version-mismatch']

const encoder = new TextEncoder()
const align8 = (n: number) => Math.ceil(n / 8) * 8
const bytesOf = (array: ArrayBufferView) =>
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength)

function frameOf(
  base: { kind: FrameKind; requestId: string; name: string; dims: number[] },
  dtype: DType,
  raw: Uint8Array,
): TensorFrame {
  const buffer = raw.slice().buffer
  const count = raw.length / WIDTH[dtype]
  switch (dtype) {
    case 'float32':
      return { ...base, dtype, data: new Float32Array(buffer, 0, count) }
    case 'float16':
      return { ...base, dtype, data: new Uint16Array(buffer, 0, count) }
    case 'uint8':
      return { ...base, dtype, data: new Uint8Array(buffer, 0, count) }
    case 'int32':
      return { ...base, dtype, data: new Int32Array(buffer, 0, count) }
  }
}

const textArb = fc.oneof(fc.string({ maxLength: 16 }), fc.string({ unit: 'binary', maxLength: 16 }))

// Random payload bytes; every dtype's bit patterns, NaNs included, are reachable.
const frameArb: fc.Arbitrary<TensorFrame> = fc
  .record({
    kind: fc.constantFrom(...KINDS),
    dtype: fc.constantFrom(...DTYPES),
    dims: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
    requestId: textArb,
    name: textArb,
  })
  .chain(({ dtype, ...base }) => {
    const length = elementCount(base.dims) * WIDTH[dtype]
    return fc
      .uint8Array({ minLength: length, maxLength: length })
      .map((raw) => frameOf(base, dtype, raw))
  })

const finiteArb = fc
  .double({ noNaN: true, noDefaultInfinity: true })
  .filter((value) => !Object.is(value, -0))
const rid = (id: string) => RequestIdSchema.parse(id)
const requestIdArb = fc.stringMatching(/^[0-9A-Za-z_-]{1,64}$/).map(rid)
// zod drops a `__proto__` key on purpose; every other key must survive.
const keyArb = fc.string({ unit: 'binary', maxLength: 16 }).filter((key) => key !== '__proto__')

const metaArb: fc.Arbitrary<PeerMeta> = fc.oneof(
  fc.record({ type: fc.constant('heartbeat' as const), sentAt: finiteArb }),
  fc.record(
    {
      type: fc.constant('request' as const),
      requestId: requestIdArb,
      method: fc.stringMatching(/^[a-z][a-z0-9-]{0,47}$/),
      deadlineMs: fc.double({ min: Number.MIN_VALUE, max: 600_000, noNaN: true }),
      payload: fc.dictionary(
        keyArb,
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 128 }),
          finiteArb,
          fc.boolean(),
          fc.array(finiteArb, { maxLength: 8 }),
        ),
        { maxKeys: 8 },
      ),
    },
    { requiredKeys: ['type', 'requestId', 'method', 'deadlineMs'] },
  ),
  fc.record(
    {
      type: fc.constant('response' as const),
      requestId: requestIdArb,
      timings: fc.dictionary(keyArb, finiteArb, { maxKeys: 32 }),
    },
    { requiredKeys: ['type', 'requestId'] },
  ),
  fc.record({
    type: fc.constant('error' as const),
    requestId: requestIdArb,
    code: fc.constantFrom(...ErrorCodeSchema.options),
    message: fc.string({ unit: 'binary', maxLength: 512 }),
  }),
  fc.record({ type: fc.constant('cancel' as const), requestId: requestIdArb }),
)

const heartbeat: PeerMeta = { type: 'heartbeat', sentAt: 1_700_000_000_000 }

function sampleFrame(): TensorFrame {
  return {
    kind: 'request',
    requestId: 'req-1',
    name: 'input',
    dtype: 'float32',
    dims: [1, 3],
    data: new Float32Array([0.5, Number.NaN, -1]),
  }
}

/** Builds a message by hand from the layout documented in peer-message.ts. */
function rawMessage(options: {
  meta: Uint8Array
  frames?: readonly Uint8Array[]
  frameCount?: number
  metaLength?: number
  magic?: number
  version?: number
}): Uint8Array {
  const frames = options.frames ?? []
  const metaEnd = align8(16 + options.meta.length)
  const total = frames.reduce((sum, frame) => sum + 8 + align8(frame.length), metaEnd)
  const bytes = new Uint8Array(total)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, options.magic ?? PEER_MESSAGE_MAGIC)
  view.setUint8(4, options.version ?? PROTOCOL_VERSION)
  view.setUint16(6, options.frameCount ?? frames.length)
  view.setUint32(8, options.metaLength ?? options.meta.length)
  bytes.set(options.meta, 16)
  let offset = metaEnd
  for (const frame of frames) {
    view.setUint32(offset, frame.length)
    bytes.set(frame, offset + 8)
    offset += 8 + align8(frame.length)
  }
  return bytes
}

const json = (value: unknown) => encoder.encode(JSON.stringify(value))

function concat(...parts: Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    bytes.set(part, offset)
    offset += part.length
  }
  return bytes
}

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

function expectWellFormedOutcome(result: Result<PeerMessage, CohortError>) {
  if (result.ok) {
    for (const frame of result.value.frames) {
      expect(frame.data.byteOffset % WIDTH[frame.dtype]).toBe(0)
      expect(frame.data.length).toBe(elementCount(frame.dims))
    }
  } else {
    expect(result.error).toBeInstanceOf(CohortError)
    expect(DECODE_ERROR_CODES).toContain(result.error.code)
  }
}

function expectThrowsCohortError(action: () => unknown, code: ErrorCode, message: RegExp) {
  let thrown: unknown
  try {
    action()
  } catch (error) {
    thrown = error
  }
  expect(thrown).toBeInstanceOf(CohortError)
  expect((thrown as CohortError).code).toBe(code)
  expect((thrown as CohortError).message).toMatch(message)
}

function expectSameFrames(actual: readonly TensorFrame[], expected: readonly TensorFrame[]) {
  expect(actual.length).toBe(expected.length)
  actual.forEach((frame, index) => {
    const original = expected[index]!
    expect({ ...frame, data: undefined }).toEqual({ ...original, data: undefined })
    expect(frame.data.constructor).toBe(original.data.constructor)
    expect(bytesOf(frame.data)).toEqual(bytesOf(original.data))
  })
}

describe('peer message round trip', () => {
  it('decodes exactly the meta and frames that were encoded', () => {
    fc.assert(
      fc.property(metaArb, fc.array(frameArb, { maxLength: 5 }), (meta, frames) => {
        const bytes = encodePeerMessage(meta, frames)
        expect(bytes.length % 8).toBe(0)
        const decoded = unwrap(decodePeerMessage(bytes))
        expect(decoded.meta).toEqual(meta)
        expectSameFrames(decoded.frames, frames)
        for (const frame of decoded.frames) {
          // Zero-copy: every payload is an 8-aligned view into the message.
          expect(frame.data.buffer).toBe(bytes.buffer)
          expect(frame.data.byteOffset % 8).toBe(0)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('decodes correctly aligned copies when the message sits at a misaligned offset', () => {
    fc.assert(
      fc.property(
        metaArb,
        fc.array(frameArb, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 7 }),
        (meta, frames, shift) => {
          const encoded = encodePeerMessage(meta, frames)
          const buffer = new ArrayBuffer(shift + encoded.length)
          const bytes = new Uint8Array(buffer, shift, encoded.length)
          bytes.set(encoded)
          const decoded = unwrap(decodePeerMessage(bytes))
          expect(decoded.meta).toEqual(meta)
          expectSameFrames(decoded.frames, frames)
          for (const frame of decoded.frames) {
            const width = WIDTH[frame.dtype]
            expect(frame.data.byteOffset % width).toBe(0)
            expect(frame.data.buffer === buffer).toBe(shift % width === 0)
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  it('encodes no frames when none are given', () => {
    const decoded = unwrap(decodePeerMessage(encodePeerMessage(heartbeat)))
    expect(decoded).toEqual({ meta: heartbeat, frames: [] })
  })

  it('matches the documented layout byte for byte', () => {
    const frames = [sampleFrame(), { ...sampleFrame(), name: 'second', kind: 'response' as const }]
    const meta: PeerMeta = {
      type: 'request',
      requestId: rid('req-1'),
      method: 'run',
      deadlineMs: 5_000,
    }
    const expected = rawMessage({ meta: json(meta), frames: frames.map(encodeTensorFrame) })
    expect(encodePeerMessage(meta, frames)).toEqual(expected)
    expect(new TextDecoder().decode(expected.subarray(0, 4))).toBe('CHPM')
  })

  it('carries exactly the maximum number of frames', () => {
    const frames = Array.from({ length: MAX_FRAMES_PER_MESSAGE }, (_, index) =>
      frameOf(
        { kind: 'activation', requestId: 'r', name: `t${index}`, dims: [] },
        'uint8',
        new Uint8Array([index]),
      ),
    )
    const decoded = unwrap(decodePeerMessage(encodePeerMessage(heartbeat, frames)))
    expectSameFrames(decoded.frames, frames)
  })

  it('carries metas at the schema limits', () => {
    const metas: PeerMeta[] = [
      {
        type: 'error',
        requestId: rid('r'.repeat(64)),
        code: 'handler-failed',
        message: 'm'.repeat(1_024),
      },
      {
        type: 'response',
        requestId: rid('r'),
        timings: Object.fromEntries(
          Array.from({ length: 32 }, (_, i) => [`k${i}`.padEnd(32, 'x'), i]),
        ),
      },
      {
        type: 'request',
        requestId: rid('r'),
        method: `a${'-'.repeat(47)}`,
        deadlineMs: 600_000,
        payload: { s: 's'.repeat(256), n: -1.5, b: false, route: [{ members: ['a'], ms: [1] }] },
      },
    ]
    for (const meta of metas) {
      expect(unwrap(decodePeerMessage(encodePeerMessage(meta))).meta).toEqual(meta)
    }
  })
})

describe('encoding peer messages that cannot be decoded', () => {
  it('throws bad-frame for more than the maximum number of frames', () => {
    const frames = Array.from({ length: MAX_FRAMES_PER_MESSAGE + 1 }, sampleFrame)
    expectThrowsCohortError(() => encodePeerMessage(heartbeat, frames), 'bad-frame', /at most 64/)
  })

  it('throws bad-frame for an inconsistent frame', () => {
    const frame = { ...sampleFrame(), dims: [2, 3] }
    expectThrowsCohortError(() => encodePeerMessage(heartbeat, [frame]), 'bad-frame', /payload has/)
  })

  it('throws bad-frame for a meta larger than a receiver accepts', () => {
    const payload = Object.fromEntries(
      Array.from({ length: 80 }, (_, i) => [`p${i}`, 'v'.repeat(256)]),
    )
    const meta: PeerMeta = {
      type: 'request',
      requestId: rid('r'),
      method: 'run',
      deadlineMs: 1,
      payload,
    }
    expectThrowsCohortError(() => encodePeerMessage(meta), 'bad-frame', /meta/)
  })
})

describe('decoding malformed peer messages', () => {
  const frame = () => encodeTensorFrame(sampleFrame())
  const withFrameByte = (at: number, value: number) => {
    const bytes = frame()
    bytes[at] = value
    return bytes
  }
  const cases: [string, () => Uint8Array, ErrorCode, RegExp][] = [
    ['an empty buffer', () => new Uint8Array(0), 'bad-frame', /shorter than the header/],
    [
      'a cut header',
      () => encodePeerMessage(heartbeat).subarray(0, 15),
      'bad-frame',
      /shorter than the header/,
    ],
    [
      'a wrong magic',
      () => rawMessage({ meta: json(heartbeat), magic: PEER_MESSAGE_MAGIC ^ 0x100 }),
      'bad-frame',
      /magic/,
    ],
    ['a tensor frame where a message belongs', () => frame(), 'bad-frame', /magic/],
    [
      'a newer version',
      () => rawMessage({ meta: json(heartbeat), version: PROTOCOL_VERSION + 1 }),
      'version-mismatch',
      /version 2, expected 1/,
    ],
    [
      'version 0',
      () => rawMessage({ meta: json(heartbeat), version: 0 }),
      'version-mismatch',
      /version 0/,
    ],
    [
      'a frame count over the maximum',
      () => rawMessage({ meta: json(heartbeat), frameCount: MAX_FRAMES_PER_MESSAGE + 1 }),
      'bad-frame',
      /65 frames exceed 64/,
    ],
    [
      'the largest frame count',
      () => rawMessage({ meta: json(heartbeat), frameCount: 0xffff }),
      'bad-frame',
      /exceed/,
    ],
    [
      'a meta over the maximum size',
      () => rawMessage({ meta: json({ ...heartbeat, pad: 'x'.repeat(MAX_META_BYTES) }) }),
      'bad-frame',
      /meta length \d+ is out of bounds/,
    ],
    [
      'a meta length past the end',
      () => rawMessage({ meta: json(heartbeat), metaLength: 1_000 }),
      'bad-frame',
      /out of bounds/,
    ],
    ['an empty meta', () => rawMessage({ meta: new Uint8Array(0) }), 'bad-frame', /not UTF-8 JSON/],
    [
      'a meta that is not JSON',
      () => rawMessage({ meta: encoder.encode('{type: heartbeat}') }),
      'bad-frame',
      /not UTF-8 JSON/,
    ],
    [
      'a meta cut short',
      () => rawMessage({ meta: json(heartbeat), metaLength: 10 }),
      'bad-frame',
      /not UTF-8 JSON/,
    ],
    [
      'a meta that is not UTF-8',
      () => rawMessage({ meta: new Uint8Array([0x22, 0xff, 0x22]) }),
      'bad-frame',
      /not UTF-8 JSON/,
    ],
    ['a meta of null', () => rawMessage({ meta: json(null) }), 'bad-frame', /invalid meta/],
    [
      'a meta that is an array',
      () => rawMessage({ meta: json([heartbeat]) }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'a meta that is a string',
      () => rawMessage({ meta: json('heartbeat') }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'a meta of an unknown type',
      () => rawMessage({ meta: json({ type: 'ping', sentAt: 1 }) }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'a meta without a type',
      () => rawMessage({ meta: json({ sentAt: 1 }) }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'a heartbeat with a string time',
      () => rawMessage({ meta: json({ type: 'heartbeat', sentAt: '1' }) }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'a request without a method',
      () => rawMessage({ meta: json({ type: 'request', requestId: 'r', deadlineMs: 1 }) }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'a request with a bad method',
      () =>
        rawMessage({
          meta: json({ type: 'request', requestId: 'r', method: 'Run Model', deadlineMs: 1 }),
        }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'a request with a zero deadline',
      () =>
        rawMessage({
          meta: json({ type: 'request', requestId: 'r', method: 'run', deadlineMs: 0 }),
        }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'a request with a deadline over ten minutes',
      () =>
        rawMessage({
          meta: json({ type: 'request', requestId: 'r', method: 'run', deadlineMs: 600_001 }),
        }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'a request id with a space',
      () => rawMessage({ meta: json({ type: 'cancel', requestId: 'req 1' }) }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'a request id over 64 characters',
      () => rawMessage({ meta: json({ type: 'cancel', requestId: 'r'.repeat(65) }) }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'an empty request id',
      () => rawMessage({ meta: json({ type: 'cancel', requestId: '' }) }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'an error with an unknown code',
      () =>
        rawMessage({ meta: json({ type: 'error', requestId: 'r', code: 'oops', message: '' }) }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'an error message over 1024 characters',
      () =>
        rawMessage({
          meta: json({
            type: 'error',
            requestId: rid('r'),
            code: 'internal',
            message: 'm'.repeat(1_025),
          }),
        }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'timings with 33 entries',
      () =>
        rawMessage({
          meta: json({
            type: 'response',
            requestId: rid('r'),
            timings: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])),
          }),
        }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      'a timing that is not a number',
      () => rawMessage({ meta: json({ type: 'response', requestId: 'r', timings: { run: '5' } }) }),
      'bad-frame',
      /invalid meta/,
    ],
    [
      '8 trailing bytes',
      () => concat(encodePeerMessage(heartbeat, [sampleFrame()]), new Uint8Array(8)),
      'bad-frame',
      /8 trailing bytes/,
    ],
    [
      '1 trailing byte',
      () => concat(encodePeerMessage(heartbeat), new Uint8Array(1)),
      'bad-frame',
      /1 trailing bytes/,
    ],
    [
      'a frame the count leaves out',
      () => rawMessage({ meta: json(heartbeat), frames: [frame()], frameCount: 0 }),
      'bad-frame',
      /trailing bytes/,
    ],
    [
      'a missing frame',
      () => rawMessage({ meta: json(heartbeat), frameCount: 1 }),
      'bad-frame',
      /frame 0 is missing/,
    ],
    [
      'a second frame missing',
      () => rawMessage({ meta: json(heartbeat), frames: [frame()], frameCount: 2 }),
      'bad-frame',
      /frame 1 is missing/,
    ],
    [
      'a frame longer than the message',
      () => {
        const bytes = rawMessage({ meta: json(heartbeat), frames: [frame()] })
        new DataView(bytes.buffer).setUint32(align8(16 + json(heartbeat).length), 1_000)
        return bytes
      },
      'bad-frame',
      /frame 0 overruns/,
    ],
    [
      'a frame length one short',
      () => {
        const bytes = rawMessage({ meta: json(heartbeat), frames: [frame()] })
        new DataView(bytes.buffer).setUint32(
          align8(16 + json(heartbeat).length),
          frame().length - 1,
        )
        return bytes
      },
      'bad-frame',
      /malformed tensor frame/,
    ],
    [
      'a frame with a wrong magic',
      () => rawMessage({ meta: json(heartbeat), frames: [withFrameByte(0, 0)] }),
      'bad-frame',
      /malformed tensor frame: wrong magic/,
    ],
    [
      'a frame of another version',
      () => rawMessage({ meta: json(heartbeat), frames: [withFrameByte(4, PROTOCOL_VERSION + 1)] }),
      'version-mismatch',
      /tensor frame has protocol version/,
    ],
    [
      'a frame with rank 9',
      () => rawMessage({ meta: json(heartbeat), frames: [withFrameByte(7, 9)] }),
      'bad-frame',
      /rank 9/,
    ],
  ]

  it.each(cases)('rejects %s', (_, build, code, message) => {
    expectError(decodePeerMessage(build()), code, message)
  })

  it('accepts the hand-built layout the malformed cases start from', () => {
    const decoded = unwrap(
      decodePeerMessage(rawMessage({ meta: json(heartbeat), frames: [frame()] })),
    )
    expect(decoded.meta).toEqual(heartbeat)
    expectSameFrames(decoded.frames, [sampleFrame()])
  })

  it('rejects every truncation of a valid message as bad-frame', () => {
    fc.assert(
      fc.property(
        fc
          .tuple(metaArb, fc.array(frameArb, { maxLength: 3 }))
          .map(([meta, frames]) => encodePeerMessage(meta, frames))
          .chain((bytes) => fc.tuple(fc.constant(bytes), fc.nat({ max: bytes.length - 1 }))),
        ([bytes, cut]) => {
          expectError(decodePeerMessage(bytes.subarray(0, cut)), 'bad-frame')
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('decoding arbitrary bytes as a peer message', () => {
  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        expectWellFormedOutcome(decodePeerMessage(bytes))
      }),
      { numRuns: 500 },
    )
  })

  it('never throws on random frames behind a valid header and meta', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 80 }),
        fc.array(fc.uint8Array({ maxLength: 120 }), { maxLength: 4 }),
        (frameCount, frames) => {
          const bytes = rawMessage({ meta: json(heartbeat), frames, frameCount })
          expectWellFormedOutcome(decodePeerMessage(bytes))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('never throws on random frame bodies behind valid tensor frame magic', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 120 }), { minLength: 1, maxLength: 3 }),
        (tails) => {
          const frames = tails.map((tail) => {
            const body = new Uint8Array(5 + tail.length)
            new DataView(body.buffer).setUint32(0, FRAME_MAGIC)
            body[4] = PROTOCOL_VERSION
            body.set(tail, 5)
            return body
          })
          expectWellFormedOutcome(decodePeerMessage(rawMessage({ meta: json(heartbeat), frames })))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('never throws on a valid message with a flipped bit', () => {
    fc.assert(
      fc.property(
        fc
          .tuple(metaArb, fc.array(frameArb, { maxLength: 3 }))
          .map(([meta, frames]) => encodePeerMessage(meta, frames))
          .chain((bytes) => fc.tuple(fc.constant(bytes), fc.nat({ max: bytes.length * 8 - 1 }))),
        ([encoded, bit]) => {
          const bytes = encoded.slice()
          const at = bit >> 3
          bytes[at] = bytes[at]! ^ (1 << (bit & 7))
          const result = decodePeerMessage(bytes)
          expectWellFormedOutcome(result)
          if (at < 4) expectError(result, 'bad-frame', /magic/)
          if (at === 4) expectError(result, 'version-mismatch')
        },
      ),
      { numRuns: 500 },
    )
  })
})
