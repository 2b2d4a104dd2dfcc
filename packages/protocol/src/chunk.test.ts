import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CHUNK_FIRST,
  CHUNK_HEADER_BYTES,
  CHUNK_LAST,
  CHUNK_MAGIC,
  type Chunk,
  decodeChunk,
  firstChunkProblem,
  splitIntoChunks,
} from './chunk.ts'
import { CohortError, type ErrorCode } from './errors.ts'
import { RequestIdSchema } from './ids.ts'
import { encodePeerMessage, MAX_FRAMES_PER_MESSAGE, MAX_META_BYTES } from './peer-message.ts'
import type { Result } from './result.ts'
import { PROTOCOL_VERSION } from './version.ts'

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

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    bytes.set(part, offset)
    offset += part.length
  }
  return bytes
}

/** A chunk built by hand from the layout documented in chunk.ts. */
function rawChunk(fields: {
  magic?: number
  version?: number
  flags?: number
  transferId?: number
  index?: number
  totalBytes?: number
  payload?: Uint8Array
}): Uint8Array {
  const payload = fields.payload ?? new Uint8Array(0)
  const bytes = new Uint8Array(CHUNK_HEADER_BYTES + payload.length)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, fields.magic ?? CHUNK_MAGIC)
  view.setUint8(1, fields.version ?? PROTOCOL_VERSION)
  view.setUint8(2, fields.flags ?? CHUNK_FIRST | CHUNK_LAST)
  view.setUint32(4, fields.transferId ?? 0)
  view.setUint32(8, fields.index ?? 0)
  view.setUint32(12, fields.totalBytes ?? payload.length)
  bytes.set(payload, CHUNK_HEADER_BYTES)
  return bytes
}

describe('splitting and decoding chunks', () => {
  it('reassembles the original bytes with correct headers for any chunk size', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3_000 }),
        fc.integer({ min: CHUNK_HEADER_BYTES + 1, max: 4_000 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (message, maxChunkBytes, transferId) => {
          const encoded = [...splitIntoChunks(message, transferId, maxChunkBytes)]
          const room = maxChunkBytes - CHUNK_HEADER_BYTES
          expect(encoded.length).toBe(Math.max(1, Math.ceil(message.length / room)))
          const chunks: Chunk[] = encoded.map((bytes) => unwrap(decodeChunk(bytes)))
          chunks.forEach((chunk, index) => {
            const isLast = index === chunks.length - 1
            expect(encoded[index]!.length).toBeLessThanOrEqual(maxChunkBytes)
            // Every chunk but the last is full, so a transfer uses as few chunks as possible.
            if (!isLast) expect(encoded[index]!.length).toBe(maxChunkBytes)
            expect(chunk.index).toBe(index)
            expect(chunk.transferId).toBe(transferId)
            expect(chunk.totalBytes).toBe(message.length)
            expect(chunk.first).toBe(index === 0)
            expect(chunk.last).toBe(isLast)
          })
          expect(concat(chunks.map((chunk) => chunk.payload))).toEqual(message)
        },
      ),
      { numRuns: 400 },
    )
  })

  it('sends an empty message as one chunk that is both first and last', () => {
    const chunks = [...splitIntoChunks(new Uint8Array(0), 7, 64)]
    expect(chunks.length).toBe(1)
    const chunk = unwrap(decodeChunk(chunks[0]!))
    expect(chunk).toMatchObject({ first: true, last: true, index: 0, totalBytes: 0, transferId: 7 })
    expect(chunk.payload.length).toBe(0)
  })

  it('fits a message of exactly one chunk of room into one chunk, and one byte more into two', () => {
    const max = CHUNK_HEADER_BYTES + 10
    expect([...splitIntoChunks(new Uint8Array(10), 1, max)].length).toBe(1)
    const two = [...splitIntoChunks(new Uint8Array(11).fill(9), 1, max)].map((bytes) =>
      unwrap(decodeChunk(bytes)),
    )
    expect(two.map((chunk) => [chunk.first, chunk.last, chunk.payload.length])).toEqual([
      [true, false, 10],
      [false, true, 1],
    ])
  })

  it('carries one byte per chunk at the smallest chunk size', () => {
    const message = new Uint8Array([1, 2, 3])
    const chunks = [...splitIntoChunks(message, 1, CHUNK_HEADER_BYTES + 1)]
    expect(chunks.map((bytes) => bytes.length)).toEqual([17, 17, 17])
    expect(concat(chunks.map((bytes) => unwrap(decodeChunk(bytes)).payload))).toEqual(message)
  })

  it('keeps every chunk within a fractional limit', () => {
    const message = new Uint8Array(50).map((_, i) => i)
    const chunks = [...splitIntoChunks(message, 1, CHUNK_HEADER_BYTES + 4.9)]
    expect(chunks.every((bytes) => bytes.length <= CHUNK_HEADER_BYTES + 4.9)).toBe(true)
    expect(chunks.length).toBe(13)
    expect(concat(chunks.map((bytes) => unwrap(decodeChunk(bytes)).payload))).toEqual(message)
  })

  it('sends one chunk when the channel has no size limit', () => {
    const message = new Uint8Array(4_096).fill(3)
    const chunks = [...splitIntoChunks(message, 1, Number.POSITIVE_INFINITY)]
    expect(chunks.length).toBe(1)
    expect(unwrap(decodeChunk(chunks[0]!)).payload).toEqual(message)
  })

  it('writes the documented header', () => {
    const message = new Uint8Array([10, 20, 30, 40, 50])
    const [first, last] = [...splitIntoChunks(message, 0x01020304, CHUNK_HEADER_BYTES + 3)]
    expect([...first!.subarray(0, CHUNK_HEADER_BYTES)]).toEqual([
      0xc5,
      PROTOCOL_VERSION,
      CHUNK_FIRST,
      0,
      1,
      2,
      3,
      4,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      5,
    ])
    expect([...last!]).toEqual([
      0xc5,
      PROTOCOL_VERSION,
      CHUNK_LAST,
      0,
      1,
      2,
      3,
      4,
      0,
      0,
      0,
      1,
      0,
      0,
      0,
      5,
      40,
      50,
    ])
  })

  it('wraps transfer ids to 32 bits', () => {
    const [bytes] = [...splitIntoChunks(new Uint8Array(1), -1, 64)]
    expect(unwrap(decodeChunk(bytes!)).transferId).toBe(0xffffffff)
    const [wrapped] = [...splitIntoChunks(new Uint8Array(1), 2 ** 32 + 5, 64)]
    expect(unwrap(decodeChunk(wrapped!)).transferId).toBe(5)
  })

  it('copies the message, so later edits to it do not change chunks already made', () => {
    const message = new Uint8Array([1, 2, 3])
    const [bytes] = [...splitIntoChunks(message, 1, 64)]
    message.fill(0)
    expect([...unwrap(decodeChunk(bytes!)).payload]).toEqual([1, 2, 3])
  })

  it('decodes the payload as a view, without copying', () => {
    const bytes = rawChunk({ payload: new Uint8Array([1, 2, 3]) })
    const chunk = unwrap(decodeChunk(bytes))
    expect(chunk.payload.buffer).toBe(bytes.buffer)
    expect(chunk.payload.byteOffset).toBe(CHUNK_HEADER_BYTES)
  })

  it('reads flags independently of reserved bits', () => {
    expect(unwrap(decodeChunk(rawChunk({ flags: 0 })))).toMatchObject({ first: false, last: false })
    expect(unwrap(decodeChunk(rawChunk({ flags: 0xfc })))).toMatchObject({
      first: false,
      last: false,
    })
    expect(unwrap(decodeChunk(rawChunk({ flags: CHUNK_FIRST })))).toMatchObject({
      first: true,
      last: false,
    })
    expect(unwrap(decodeChunk(rawChunk({ flags: CHUNK_LAST })))).toMatchObject({
      first: false,
      last: true,
    })
  })

  it.each([0, 1, CHUNK_HEADER_BYTES, CHUNK_HEADER_BYTES + 0.5, -5, Number.NaN])(
    'refuses a chunk size of %s that leaves no room for data',
    (maxChunkBytes) => {
      let thrown: unknown
      try {
        // A generator runs nothing until it is iterated, so iterate it.
        for (const _ of splitIntoChunks(new Uint8Array(4), 1, maxChunkBytes)) break
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(CohortError)
      expect((thrown as CohortError).code).toBe('bad-frame')
    },
  )
})

describe('decoding malformed chunks', () => {
  const cases: [string, () => Uint8Array, ErrorCode, RegExp][] = [
    ['an empty buffer', () => new Uint8Array(0), 'bad-frame', /shorter than its header/],
    [
      'a cut header',
      () => rawChunk({}).subarray(0, CHUNK_HEADER_BYTES - 1),
      'bad-frame',
      /shorter/,
    ],
    ['a wrong magic', () => rawChunk({ magic: 0xc4 }), 'bad-frame', /magic/],
    [
      'a tensor frame',
      () => new TextEncoder().encode('CHTF'.padEnd(20, '\0')),
      'bad-frame',
      /magic/,
    ],
    [
      'a newer version',
      () => rawChunk({ version: PROTOCOL_VERSION + 1 }),
      'version-mismatch',
      /version 2/,
    ],
    ['version 0', () => rawChunk({ version: 0 }), 'version-mismatch', /version 0/],
  ]

  it.each(cases)('rejects %s', (_, build, code, message) => {
    expectError(decodeChunk(build()), code, message)
  })

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const result = decodeChunk(bytes)
        if (result.ok) expect(result.value.payload.length).toBe(bytes.length - CHUNK_HEADER_BYTES)
        else expect(['bad-frame', 'version-mismatch']).toContain(result.error.code)
      }),
      { numRuns: 500 },
    )
  })

  it('decodes a bit-flipped chunk to ok or a decode error, never a throw', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 40 }),
        fc.integer({ min: 0, max: CHUNK_HEADER_BYTES * 8 - 1 }),
        (payload, bit) => {
          const bytes = rawChunk({ payload, transferId: 3, index: 0 })
          const at = bit >> 3
          bytes[at] = bytes[at]! ^ (1 << (bit & 7))
          const result = decodeChunk(bytes)
          if (at === 0) expectError(result, 'bad-frame', /magic/)
          else if (at === 1) expectError(result, 'version-mismatch')
          else expect(unwrap(result).payload).toEqual(payload)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('rejects any truncation into the header as bad-frame', () => {
    const bytes = rawChunk({ payload: new Uint8Array([1, 2]) })
    for (let cut = 0; cut < CHUNK_HEADER_BYTES; cut++) {
      expectError(decodeChunk(bytes.subarray(0, cut)), 'bad-frame', /shorter/)
    }
  })
})

describe("reading a transfer's peer message header from its first chunk", () => {
  const requestId = RequestIdSchema.parse('r1')
  const tensor = (length: number) => ({
    kind: 'request' as const,
    requestId,
    name: 'x',
    dtype: 'uint8' as const,
    dims: [length],
    data: new Uint8Array(length),
  })
  const message = fc.oneof(
    fc
      .record({ sentAt: fc.double({ noNaN: true }) })
      .map(({ sentAt }) => encodePeerMessage({ type: 'heartbeat', sentAt })),
    fc
      .string({ maxLength: 1_000 })
      .map((text) =>
        encodePeerMessage({ type: 'error', requestId, code: 'internal', message: text }),
      ),
    fc
      .array(fc.integer({ min: 0, max: 3_000 }), { maxLength: 5 })
      .map((lengths) =>
        encodePeerMessage(
          { type: 'request', requestId, method: 'echo', deadlineMs: 1_000 },
          lengths.map(tensor),
        ),
      ),
  )
  /** A peer message header built by hand: magic, version, frame count, meta length. */
  const header = (fields: { magic?: number; version?: number; frames?: number; meta?: number }) => {
    const bytes = new Uint8Array(64)
    const view = new DataView(bytes.buffer)
    view.setUint32(0, fields.magic ?? 0x4348504d)
    view.setUint8(4, fields.version ?? PROTOCOL_VERSION)
    view.setUint16(6, fields.frames ?? 0)
    view.setUint32(8, fields.meta ?? 20)
    return bytes
  }

  it('accepts the first chunk of every real peer message at any chunk size', () => {
    fc.assert(
      fc.property(
        message,
        fc.integer({ min: CHUNK_HEADER_BYTES + 1, max: 2_000 }),
        (bytes, max) => {
          const [first] = [...splitIntoChunks(bytes, 1, max)].map((chunk) =>
            unwrap(decodeChunk(chunk)),
          )
          if (!first) throw new Error('no chunk')
          expect(firstChunkProblem(first.payload, first.totalBytes)).toBeNull()
        },
      ),
      { numRuns: 300 },
    )
  })

  it('knows the exact size of a message without frames', () => {
    const heartbeat = encodePeerMessage({ type: 'heartbeat', sentAt: 1 })
    expect(firstChunkProblem(heartbeat, heartbeat.length)).toBeNull()
    expect(firstChunkProblem(heartbeat, heartbeat.length + 8)).toMatch(/without frames/)
    expect(firstChunkProblem(heartbeat, 16 * 1024 * 1024)).toMatch(/without frames/)
  })

  it('refuses what cannot be a peer message of the announced size', () => {
    expect(firstChunkProblem(header({ magic: 1 }), 1_000)).toMatch(/does not start/)
    expect(firstChunkProblem(header({ version: PROTOCOL_VERSION + 1 }), 1_000)).toMatch(/version/)
    expect(firstChunkProblem(header({ frames: MAX_FRAMES_PER_MESSAGE + 1 }), 1e6)).toMatch(/frames/)
    expect(firstChunkProblem(header({ meta: MAX_META_BYTES + 1 }), 1e6)).toMatch(/meta/)
    // Two frames need at least 2 × 24 bytes after the 40 of header and meta.
    expect(firstChunkProblem(header({ frames: 2, meta: 20 }), 40 + 47)).toMatch(/too few/)
    expect(firstChunkProblem(header({ frames: 2, meta: 20 }), 40 + 48)).toBeNull()
  })

  it('cannot judge a payload shorter than the header, and never throws', () => {
    expect(firstChunkProblem(new Uint8Array(15), 1e9)).toBeNull()
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(), (bytes, total) => {
        const problem = firstChunkProblem(bytes, total)
        expect(problem === null || typeof problem === 'string').toBe(true)
      }),
    )
  })
})
