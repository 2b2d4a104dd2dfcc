import {
  CHUNK_HEADER_BYTES,
  CHUNK_MAGIC,
  type DeviceId,
  encodePeerMessage,
  PEER_MESSAGE_MAGIC,
  PROTOCOL_VERSION,
  RequestIdSchema,
  type Result,
  splitIntoChunks,
} from '@cohort/protocol'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DEFAULT_BAD_FRAME_LIMITS } from './bad-frames.ts'
import { messageBytes } from './byte-channel.ts'
import type { PeerSession } from './peer-session.ts'
import type { RpcReply } from './rpc.ts'
import {
  ALICE,
  BOB,
  CAROL,
  echo,
  type SessionSide,
  sessionPair,
  TEST_HEARTBEAT,
} from './testing/session-pair.ts'
import { DEFAULT_ASSEMBLER_LIMITS } from './transfer.ts'

const HEARTBEAT = TEST_HEARTBEAT
const MiB = 1024 * 1024
const REQUEST_ID = RequestIdSchema.parse('fuzz')

interface ChunkFields {
  readonly magic: number
  readonly version: number
  readonly flags: number
  readonly transferId: number
  readonly index: number
  readonly totalBytes: number
  readonly payload: Uint8Array
}

function chunk(fields: ChunkFields): Uint8Array {
  const bytes = new Uint8Array(CHUNK_HEADER_BYTES + fields.payload.length)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, fields.magic)
  view.setUint8(1, fields.version)
  view.setUint8(2, fields.flags)
  view.setUint32(4, fields.transferId)
  view.setUint32(8, fields.index)
  view.setUint32(12, fields.totalBytes)
  bytes.set(fields.payload, CHUNK_HEADER_BYTES)
  return bytes
}

/** Bytes that start like a peer message (magic, version, frame count, meta length) and go wrong. */
const peerMessageLike = fc
  .record({
    version: fc.oneof(fc.constant(PROTOCOL_VERSION), fc.integer({ min: 0, max: 255 })),
    frames: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 0xffff })),
    metaLength: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.nat()),
    meta: fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.constant('{"type":"request"}'),
      fc.constant('{"type":"heartbeat","sentAt":"soon"}'),
      fc.json({ maxDepth: 2 }),
    ),
    tail: fc.uint8Array({ maxLength: 80 }),
  })
  .map(({ version, frames, metaLength, meta, tail }) => {
    const metaBytes = new TextEncoder().encode(meta)
    const bytes = new Uint8Array(16 + metaBytes.length + tail.length)
    const view = new DataView(bytes.buffer)
    view.setUint32(0, PEER_MESSAGE_MAGIC)
    view.setUint8(4, version)
    view.setUint16(6, frames)
    view.setUint32(8, metaLength % 3 === 0 ? metaBytes.length : metaLength)
    bytes.set(metaBytes, 16)
    bytes.set(tail, 16 + metaBytes.length)
    return bytes
  })

const payload = fc.oneof(fc.uint8Array({ maxLength: 300 }), peerMessageLike)

/** Chunk headers of every kind of wrong: magic, version, flags, ids, indexes, huge sizes. */
const forgedChunk = fc
  .record({
    magic: fc.oneof(fc.constant(CHUNK_MAGIC), fc.integer({ min: 0, max: 255 })),
    version: fc.oneof(fc.constant(PROTOCOL_VERSION), fc.integer({ min: 0, max: 255 })),
    flags: fc.integer({ min: 0, max: 255 }),
    // Few ids and indexes, so duplicate firsts and out-of-order chunks of one transfer happen.
    transferId: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.nat()),
    index: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.nat()),
    totalBytes: fc.oneof(
      fc.integer({ min: 0, max: 1_000 }),
      fc.integer({ min: 16 * MiB - 2, max: 16 * MiB + 2 }),
      fc.constant(0xffffffff),
      fc.nat(),
    ),
    payload,
  })
  .map(chunk)

/** A well-formed single chunk around a payload that is not a valid peer message. */
const wrappedGarbage = fc
  .tuple(payload, fc.integer({ min: 1, max: 6 }))
  .map(([bytes, transferId]) =>
    chunk({
      magic: CHUNK_MAGIC,
      version: PROTOCOL_VERSION,
      flags: 3,
      transferId,
      index: 0,
      totalBytes: bytes.length,
      payload: bytes,
    }),
  )

// Chunk header bytes whose change always breaks a transfer (flags and reserved bits may not).
const BREAKING_HEADER_BYTES = [0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]

/**
 * A real request split into chunks small enough for several (its message is over 120 bytes),
 * then broken: a chunk lost, repeated, swapped, cut, its header flipped, or the first sent last.
 */
const brokenTransfer = fc
  .record({
    size: fc.integer({ min: 1, max: 600 }),
    chunkBytes: fc.integer({ min: 40, max: 120 }),
    transferId: fc.integer({ min: 1, max: 6 }),
    damage: fc.constantFrom('drop', 'repeat', 'swap', 'cut', 'flip', 'late-first'),
    at: fc.nat(),
  })
  .map(({ size, chunkBytes, transferId, damage, at }) => {
    const data = new Uint8Array(size).fill(9)
    const message = encodePeerMessage(
      { type: 'request', requestId: REQUEST_ID, method: 'echo', deadlineMs: 1_000 },
      [{ kind: 'request', requestId: REQUEST_ID, name: 'x', dtype: 'uint8', dims: [size], data }],
    )
    const chunks = [...splitIntoChunks(message, transferId, chunkBytes)]
    const pick = (items: readonly Uint8Array[], index: number) => items[index] ?? new Uint8Array()
    const index = at % chunks.length
    switch (damage) {
      case 'drop':
        chunks.splice(1 + (at % (chunks.length - 1)), 1)
        break
      case 'repeat':
        chunks.splice(index, 0, pick(chunks, index))
        break
      case 'swap': {
        const left = at % (chunks.length - 1)
        const [first, second] = [pick(chunks, left), pick(chunks, left + 1)]
        chunks.splice(left, 2, second, first)
        break
      }
      case 'cut':
        chunks[index] = pick(chunks, index).subarray(0, at % pick(chunks, index).length)
        break
      case 'flip': {
        const copy = pick(chunks, index).slice()
        const byte = BREAKING_HEADER_BYTES[at % BREAKING_HEADER_BYTES.length] ?? 0
        copy[byte] = (copy[byte] ?? 0) ^ (1 << (at % 8))
        chunks[index] = copy
        break
      }
      case 'late-first':
        chunks.push(pick(chunks, 0))
        chunks.shift()
        break
    }
    return chunks
  })

/** The first chunk of a real 2-chunk request, as a transfer that will never go on. */
const REAL_FIRST = (() => {
  const message = encodePeerMessage(
    { type: 'request', requestId: REQUEST_ID, method: 'echo', deadlineMs: 1_000 },
    [
      {
        kind: 'request',
        requestId: REQUEST_ID,
        name: 'x',
        dtype: 'uint8',
        dims: [200],
        data: new Uint8Array(200),
      },
    ],
  )
  return splitIntoChunks(message, 1, 200).next().value ?? new Uint8Array()
})()
const withIdAndTotal = (first: Uint8Array, transferId: number, totalBytes?: number) => {
  const copy = first.slice()
  const view = new DataView(copy.buffer)
  view.setUint32(4, transferId)
  if (totalBytes !== undefined) view.setUint32(12, totalBytes)
  return copy
}

/** Valid-looking first chunks that never go on: 70 at once (over the 64 slots) or 16 MiB ones. */
const hoarding = fc.oneof(
  fc
    .integer({ min: 100, max: 1e6 })
    .map((base) =>
      Array.from({ length: 70 }, (_, index) => withIdAndTotal(REAL_FIRST, base + index)),
    ),
  fc
    .tuple(fc.integer({ min: 100, max: 1e6 }), fc.integer({ min: 16 * MiB - 1_000, max: 16 * MiB }))
    .map(([base, total]) =>
      [0, 1, 2].map((index) => withIdAndTotal(REAL_FIRST, base + index, total)),
    ),
)

/** Groups of frames as a misbehaving peer sends them. */
const frameGroup: fc.Arbitrary<Uint8Array[]> = fc.oneof(
  { arbitrary: forgedChunk.map((frame) => [frame]), weight: 40 },
  { arbitrary: wrappedGarbage.map((frame) => [frame]), weight: 40 },
  { arbitrary: fc.uint8Array({ maxLength: CHUNK_HEADER_BYTES + 4 }).map((f) => [f]), weight: 20 },
  { arbitrary: fc.string({ maxLength: 20 }).map((text) => [messageBytes(text)]), weight: 10 },
  { arbitrary: brokenTransfer, weight: 40 },
  // Rare, as each is many frames.
  { arbitrary: hoarding, weight: 1 },
)

async function answer(promise: Promise<Result<RpcReply, unknown>>) {
  let outcome: Result<RpcReply, unknown> | undefined
  void promise.then((value) => {
    outcome = value
  })
  for (let step = 0; step < 100 && !outcome; step++) await vi.advanceTimersByTimeAsync(0)
  if (!outcome?.ok) throw new Error(`expected a reply, got ${JSON.stringify(outcome)}`)
  return outcome.value
}

/** Echoes `bytes` of random data from `from` to its peer; expects them back identical. */
async function expectEchoed(from: SessionSide, length: number, seed: number) {
  const data = new Uint8Array(length).map((_, index) => (index * 31 + seed) & 0xff)
  const reply = await answer(
    from.session.request('echo', [{ name: 'x', dtype: 'uint8', dims: [length], data }], {
      deadlineMs: 10_000,
    }),
  )
  expect(reply.frames).toHaveLength(1)
  expect(Buffer.compare(Buffer.from(reply.frames[0]?.data ?? []), Buffer.from(data))).toBe(0)
}

describe('the mesh receive path under malformed frames', () => {
  const sessions: PeerSession[] = []
  const pair = (ids: readonly [DeviceId, DeviceId]) => {
    const sides = sessionPair({ ids, heartbeat: HEARTBEAT, handlers: { echo } })
    for (const side of sides) sessions.push(side.session)
    return sides
  }

  beforeEach(() => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'],
    })
  })
  afterEach(() => {
    for (const session of sessions.splice(0)) session.end('closed')
    vi.useRealTimers()
  })

  it('takes 10,000+ generated malformed frames within its limits and still serves both links', async () => {
    const [alice, bob] = pair([ALICE, BOB])
    const [carol, bobToCarol] = pair([CAROL, BOB])
    const frames = fc.sample(frameGroup, { numRuns: 6_000, seed: 11 }).flat()
    const limits = DEFAULT_ASSEMBLER_LIMITS
    // Batches of 400 every 500 ms stay under the cut-off of 1,000 bad frames a second, so the
    // session lives to show it still works afterwards.
    const batch = 400
    const startedAt = performance.now()
    // First, more valid-looking transfers than the slots: 64 open, the rest refused, then all
    // expire.
    for (const frame of Array.from({ length: 70 }, (_, id) =>
      withIdAndTotal(REAL_FIRST, id + 50),
    )) {
      alice.end.send(frame)
    }
    await vi.advanceTimersByTimeAsync(0)
    expect(bob.session.receiveStats).toMatchObject({ openTransfers: 64, badFrames: 6 })
    await vi.advanceTimersByTimeAsync(limits.idleMs + HEARTBEAT.intervalMs)
    expect(bob.session.receiveStats).toMatchObject({ openTransfers: 0, heldBytes: 0 })

    const peak = { announced: 0 }
    for (let start = 0; start < frames.length; start += batch) {
      for (const frame of frames.slice(start, start + batch)) {
        alice.end.send(frame)
        await Promise.resolve()
        const stats = bob.session.receiveStats
        expect(stats.announcedBytes).toBeLessThanOrEqual(limits.maxOpenBytes)
        expect(stats.heldBytes).toBeLessThanOrEqual(stats.announcedBytes)
        expect(stats.openTransfers).toBeLessThanOrEqual(limits.maxOpenTransfers)
        peak.announced = Math.max(peak.announced, stats.announcedBytes)
      }
      await vi.advanceTimersByTimeAsync(500)
      expect(bob.session.open).toBe(true)
    }
    const elapsedMs = performance.now() - startedAt
    expect(frames.length).toBeGreaterThan(15_000)
    expect(bob.session.receiveStats.badFrames).toBeGreaterThanOrEqual(10_000)
    // The junk did reach the budget: its 16 MiB announcements filled it.
    expect(peak.announced).toBeGreaterThan(limits.maxOpenBytes - MiB)
    // Reports came at the bounded rate, not per frame.
    const reportIntervals = elapsedMs / DEFAULT_BAD_FRAME_LIMITS.reportIntervalMs
    expect(bob.log.bad.length).toBeLessThanOrEqual(Math.ceil(reportIntervals) + 1)

    // Whatever the junk left open expires and releases its bytes.
    await vi.advanceTimersByTimeAsync(limits.idleMs + HEARTBEAT.intervalMs)
    expect(bob.session.receiveStats).toMatchObject({ openTransfers: 0, heldBytes: 0 })

    // Both links, the junk's included, still serve small and multi-chunk requests both ways.
    for (const side of [alice, bob, carol, bobToCarol]) {
      await expectEchoed(side, 3, 1)
      await expectEchoed(side, 1 * MiB + 5, 2)
    }
    for (const side of [alice, bob, carol, bobToCarol]) expect(side.log.ended).toEqual([])
    expect(carol.log.bad).toEqual([])
    expect(bobToCarol.log.bad).toEqual([])
  })

  it('never throws and keeps serving, for any sequence of malformed frames', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frameGroup, { maxLength: 80 }), async (groups) => {
        const [alice, bob] = pair([ALICE, BOB])
        for (const frame of groups.flat()) alice.end.send(frame)
        await vi.advanceTimersByTimeAsync(0)
        expect(bob.session.receiveStats.heldBytes).toBeLessThanOrEqual(
          DEFAULT_ASSEMBLER_LIMITS.maxOpenBytes,
        )
        await vi.advanceTimersByTimeAsync(DEFAULT_ASSEMBLER_LIMITS.idleMs + HEARTBEAT.intervalMs)
        await expectEchoed(alice, 300_000, 3)
        expect(bob.session.open).toBe(true)
        alice.session.end('closed')
        bob.session.end('closed')
      }),
      { numRuns: 40, seed: 5 },
    )
  })
})
