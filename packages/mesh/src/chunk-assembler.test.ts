import {
  CHUNK_FIRST,
  CHUNK_HEADER_BYTES,
  CHUNK_MAGIC,
  type CohortError,
  PROTOCOL_VERSION,
  type Result,
  splitIntoChunks,
} from '@cohort/protocol'
import { describe, expect, it } from 'vitest'
import { ChunkAssembler } from './chunk-assembler.ts'
import { memoryChannelPair } from './testing/memory-channel.ts'
import { type AssemblerLimits, ChunkSender, DEFAULT_ASSEMBLER_LIMITS } from './transfer.ts'

const MiB = 1024 * 1024
const ROOM = 64
const CHUNK_BYTES = ROOM + CHUNK_HEADER_BYTES

const LIMITS: AssemblerLimits = {
  maxMessageBytes: 20 * ROOM,
  maxOpenBytes: 30 * ROOM,
  maxOpenTransfers: 8,
  idleMs: 1_000,
}

const chunksOf = (message: Uint8Array, transferId: number, chunkBytes = CHUNK_BYTES) => [
  ...splitIntoChunks(message, transferId, chunkBytes),
]

/** The first chunk of a transfer announcing `totalBytes`, with `payloadBytes` of it. */
function firstChunk(transferId: number, totalBytes: number, payloadBytes = ROOM): Uint8Array {
  const chunk = new Uint8Array(CHUNK_HEADER_BYTES + payloadBytes)
  const view = new DataView(chunk.buffer)
  view.setUint8(0, CHUNK_MAGIC)
  view.setUint8(1, PROTOCOL_VERSION)
  view.setUint8(2, CHUNK_FIRST)
  view.setUint32(4, transferId)
  view.setUint32(12, totalBytes)
  return chunk
}

function at<T>(items: readonly T[], index: number): T {
  const item = items[index]
  if (item === undefined) throw new Error(`no item ${index}`)
  return item
}

function expectBadFrame(result: Result<unknown, CohortError>, message: RegExp) {
  if (result.ok) throw new Error('expected a bad-frame error, got ok')
  expect(result.error.code).toBe('bad-frame')
  expect(result.error.message).toMatch(message)
}

/** An assembler on a clock the test moves. */
function clocked(limits = LIMITS, admit?: (payload: Uint8Array, total: number) => string | null) {
  const clock = { now: 0 }
  const assembler = new ChunkAssembler(limits, {
    now: () => clock.now,
    ...(admit ? { admit } : {}),
  })
  return { clock, assembler }
}

describe('ChunkAssembler limits', () => {
  it('limits the bytes that open transfers announce together, and frees them on completion', () => {
    const { assembler } = clocked()
    // Two transfers announcing 20 + 10 rooms fill the 30-room budget; a third does not fit.
    const big = chunksOf(new Uint8Array(20 * ROOM), 1)
    const small = chunksOf(new Uint8Array(10 * ROOM), 2)
    expect(assembler.push(at(big, 0))).toEqual({ ok: true, value: null })
    expect(assembler.push(at(small, 0))).toEqual({ ok: true, value: null })
    expect(assembler.announcedBytes).toBe(30 * ROOM)
    expectBadFrame(assembler.push(firstChunk(3, 2 * ROOM)), /more than 1920/)
    expect(assembler.openTransfers).toBe(2)
    // Completing one frees its share.
    for (const chunk of small.slice(1)) expect(assembler.push(chunk).ok).toBe(true)
    expect(assembler.announcedBytes).toBe(20 * ROOM)
    expect(assembler.push(firstChunk(3, 2 * ROOM)).ok).toBe(true)
  })

  it('holds what arrived, not what a first chunk announces', () => {
    const { assembler } = clocked()
    expect(assembler.push(firstChunk(1, 20 * ROOM)).ok).toBe(true)
    expect(assembler.announcedBytes).toBe(20 * ROOM)
    expect(assembler.heldBytes).toBe(ROOM)
  })

  it('refuses the default flood: 16 MiB first chunks stop at the 32 MiB budget, holding 2 chunks', () => {
    const assembler = new ChunkAssembler()
    const results = [1, 2, 3, 4].map((id) => assembler.push(firstChunk(id, 16 * MiB)))
    expect(results.map((result) => result.ok)).toEqual([true, true, false, false])
    expect(assembler.announcedBytes).toBe(DEFAULT_ASSEMBLER_LIMITS.maxOpenBytes)
    expect(assembler.heldBytes).toBe(2 * ROOM)
    expectBadFrame(assembler.push(firstChunk(5, 16 * MiB + 1)), /exceeds/)
  })

  it('copies a message O(1) times as it grows and returns exactly its bytes', () => {
    const { assembler } = clocked()
    const message = new Uint8Array(20 * ROOM - 3).map((_, index) => index * 7)
    let maxHeld = 0
    let result: Uint8Array | null = null
    for (const chunk of chunksOf(message, 1)) {
      const pushed = assembler.push(chunk)
      if (!pushed.ok) throw pushed.error
      result = pushed.value
      maxHeld = Math.max(maxHeld, assembler.heldBytes)
      // Doubling never holds more than twice what arrived, nor more than the announced total.
      expect(assembler.heldBytes).toBeLessThanOrEqual(message.length)
    }
    expect(result).toEqual(message)
    expect(result?.buffer.byteLength).toBe(message.length)
    expect(maxHeld).toBe(message.length)
    expect(assembler.heldBytes).toBe(0)
  })

  it('drops a transfer idle for longer than idleMs and releases its bytes', () => {
    const { clock, assembler } = clocked()
    const stalled = chunksOf(new Uint8Array(4 * ROOM), 1)
    const moving = chunksOf(new Uint8Array(4 * ROOM).fill(5), 2)
    assembler.push(at(stalled, 0))
    assembler.push(at(moving, 0))
    clock.now = 600
    assembler.push(at(moving, 1))
    clock.now = 1_001
    expect(assembler.sweep()).toBe(1)
    expect(assembler.openTransfers).toBe(1)
    expect(assembler.announcedBytes).toBe(4 * ROOM)
    expect(assembler.heldBytes).toBe(2 * ROOM)
    expectBadFrame(assembler.push(at(stalled, 1)), /never started/)
    assembler.push(at(moving, 2))
    expect(assembler.push(at(moving, 3))).toEqual({
      ok: true,
      value: new Uint8Array(4 * ROOM).fill(5),
    })
  })

  it('sweeps idle transfers before refusing a new one for want of room (no timer needed)', () => {
    const { clock, assembler } = clocked()
    for (let id = 1; id <= 8; id++) assembler.push(firstChunk(id, 2 * ROOM))
    expectBadFrame(assembler.push(firstChunk(9, 2 * ROOM)), /more than 8 transfers/)
    clock.now = 1_001
    expect(assembler.push(firstChunk(9, 2 * ROOM)).ok).toBe(true)
    expect(assembler.openTransfers).toBe(1)
  })

  it('asks admit before holding anything, and refuses what it refuses', () => {
    const seen: [number, number][] = []
    const { assembler } = clocked(LIMITS, (payload, total) => {
      seen.push([payload.length, total])
      return payload[0] === 0xff ? 'not a peer message' : null
    })
    const refused = firstChunk(1, 4 * ROOM)
    refused[CHUNK_HEADER_BYTES] = 0xff
    expectBadFrame(assembler.push(refused), /transfer 1: not a peer message/)
    expect(assembler.openTransfers).toBe(0)
    expect(assembler.heldBytes).toBe(0)
    expect(assembler.push(firstChunk(2, 4 * ROOM)).ok).toBe(true)
    expect(seen).toEqual([
      [ROOM, 4 * ROOM],
      [ROOM, 4 * ROOM],
    ])
    // Single-chunk messages are never held open, so they skip it.
    const [single] = chunksOf(new Uint8Array(5).fill(0xff), 3)
    expect(assembler.push(single ?? new Uint8Array()).ok).toBe(true)
    expect(seen).toHaveLength(2)
  })

  it('refuses chunks whose size differs from the first (a sender splits evenly) and empty firsts', () => {
    const { assembler } = clocked()
    assembler.push(firstChunk(1, 4 * ROOM))
    const short = chunksOf(new Uint8Array(4 * ROOM), 1, CHUNK_BYTES - 1)
    expectBadFrame(assembler.push(at(short, 1)), /carries 63 bytes/)
    expect(assembler.openTransfers).toBe(0)
    expectBadFrame(assembler.push(firstChunk(2, 4 * ROOM, 0)), /empty/)
    expect(assembler.openTransfers).toBe(0)
  })
})

describe('ChunkSender keeps to the receiver limits', () => {
  it('never opens more than the receiver allows, so every message of a burst arrives', async () => {
    const limits = { ...DEFAULT_ASSEMBLER_LIMITS, maxOpenBytes: 8 * MiB, maxOpenTransfers: 3 }
    const [near, far] = memoryChannelPair()
    const sender = new ChunkSender(near, limits)
    const assembler = new ChunkAssembler(limits)
    const received: Uint8Array[] = []
    const errors: CohortError[] = []
    let peakOpen = 0
    let peakAnnounced = 0
    far.onMessage((chunk) => {
      const result = assembler.push(chunk)
      peakOpen = Math.max(peakOpen, assembler.openTransfers)
      peakAnnounced = Math.max(peakAnnounced, assembler.announcedBytes)
      if (!result.ok) errors.push(result.error)
      else if (result.value) received.push(result.value)
    })
    // Twelve 1.5 MiB messages and some small ones, all queued at once: round robin alone would
    // open all twelve together (18 MiB, 12 transfers).
    const sizes = [...Array.from({ length: 12 }, () => 1.5 * MiB), 10, 20, 30]
    await Promise.all(sizes.map((size, index) => sender.send(new Uint8Array(size).fill(index))))
    await new Promise<void>((resolve) => setImmediate(resolve))
    expect(errors).toEqual([])
    expect(received.map((message) => message.length).sort((a, b) => a - b)).toEqual(
      [...sizes].sort((a, b) => a - b),
    )
    expect(peakOpen).toBe(3)
    expect(peakAnnounced).toBeLessThanOrEqual(limits.maxOpenBytes)
    // Small messages are never held open, so they do not wait for the big ones.
    expect(received.slice(0, 3).map((message) => message.length)).toEqual([10, 20, 30])
  })

  it('fails a message larger than the receiver accepts with payload-too-large', async () => {
    const [near, far] = memoryChannelPair()
    far.onMessage(() => {})
    const sender = new ChunkSender(near)
    await expect(sender.send(new Uint8Array(16 * MiB + 1))).rejects.toMatchObject({
      code: 'payload-too-large',
    })
    await expect(sender.send(new Uint8Array(16))).resolves.toBeUndefined()
  })
})
