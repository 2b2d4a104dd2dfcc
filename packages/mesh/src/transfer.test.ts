import {
  CHUNK_HEADER_BYTES,
  CHUNK_MAGIC,
  CohortError,
  decodeChunk,
  type ErrorCode,
  PROTOCOL_VERSION,
  type Result,
  splitIntoChunks,
} from '@cohort/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ChunkAssembler } from './chunk-assembler.ts'
import { type MemoryChannelEnd, memoryChannelPair } from './testing/memory-channel.ts'
import {
  type AssemblerLimits,
  ChunkSender,
  chunkPayloadBytes,
  DEFAULT_ASSEMBLER_LIMITS,
  HIGH_WATER_BYTES,
  LOW_WATER_BYTES,
  MAX_CHUNK_BYTES,
} from './transfer.ts'

const MiB = 1024 * 1024

/** Deterministic pseudo-random bytes (xorshift32), cheap enough for multi-MiB messages. */
function bytesOf(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length)
  let state = seed >>> 0 || 0x9e3779b9
  for (let index = 0; index < length; index++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    bytes[index] = state & 0xff
  }
  return bytes
}

/** Index of the first byte where two arrays differ, or -1 (toEqual is far too slow for MiBs). */
function firstDifference(actual: Uint8Array | undefined, expected: Uint8Array): number {
  if (!actual) return 0
  const length = Math.min(actual.length, expected.length)
  for (let index = 0; index < length; index++) if (actual[index] !== expected[index]) return index
  return actual.length === expected.length ? -1 : length
}

/** Lets every queued microtask (and so every microtask-delivered chunk) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

function expectError(result: Result<unknown, CohortError>, code: ErrorCode, message?: RegExp) {
  if (result.ok) throw new Error(`expected a ${code} error, got ok`)
  expect(result.error).toBeInstanceOf(CohortError)
  expect(result.error.code).toBe(code)
  if (message) expect(result.error.message).toMatch(message)
}

function unwrap<T>(result: Result<T, CohortError>): T {
  if (!result.ok) throw new Error(`expected ok, got ${result.error.code}: ${result.error.message}`)
  return result.value
}

/** A sender on one end of a memory pair and an assembler on the other, recording what arrives. */
function transferRig(options: Parameters<typeof memoryChannelPair>[0] = {}) {
  const [near, far] = memoryChannelPair(options)
  const sender = new ChunkSender(near)
  const assembler = new ChunkAssembler()
  const received: Uint8Array[] = []
  const errors: CohortError[] = []
  /** Transfer id of every chunk, in arrival order. */
  const arrivals: number[] = []
  far.onMessage((chunk) => {
    arrivals.push(unwrap(decodeChunk(chunk)).transferId)
    const result = assembler.push(chunk)
    if (!result.ok) errors.push(result.error)
    else if (result.value) received.push(result.value)
  })
  return { near, far, sender, assembler, received, errors, arrivals }
}

/** Tracks whether a promise has settled, without ever leaving a rejection unhandled. */
function track(promise: Promise<void>) {
  const state: { done: boolean; error: unknown } = { done: false, error: undefined }
  promise.then(
    () => {
      state.done = true
    },
    (error: unknown) => {
      state.done = true
      state.error = error
    },
  )
  return state
}

/** Drains a manual channel step by step until `done()`, checking the buffer bound each step. */
async function drainUntil(near: MemoryChannelEnd, done: () => boolean, chunkBytes: number) {
  for (let step = 0; step < 10_000 && !done(); step++) {
    near.drain()
    await settle()
    expect(near.peakBufferedAmount).toBeLessThanOrEqual(HIGH_WATER_BYTES + chunkBytes)
  }
  expect(done()).toBe(true)
}

describe('ChunkSender and ChunkAssembler', () => {
  const maxMessageSize = 16 * 1024
  const room = maxMessageSize - CHUNK_HEADER_BYTES

  it.each([
    ['0 B', 0],
    ['1 B', 1],
    ['exactly one chunk', room],
    ['one byte over one chunk', room + 1],
    ['exactly two chunks', 2 * room],
    ['multi-MiB', 3 * MiB + 7],
  ])('delivers a message of %s byte-identical', async (_name, size) => {
    const rig = transferRig({ maxMessageSize })
    expect(chunkPayloadBytes(rig.near)).toBe(room)
    const message = bytesOf(size, size + 1)
    await rig.sender.send(message)
    await settle()
    expect(rig.errors).toEqual([])
    expect(rig.received).toHaveLength(1)
    expect(firstDifference(rig.received[0], message)).toBe(-1)
    expect(rig.arrivals).toHaveLength(Math.max(1, Math.ceil(size / room)))
    expect(rig.assembler.openTransfers).toBe(0)
  })

  it('caps chunks at MAX_CHUNK_BYTES even when the channel allows more', async () => {
    const rig = transferRig({ maxMessageSize: 1024 * 1024 })
    const message = bytesOf(MAX_CHUNK_BYTES * 2, 3)
    await rig.sender.send(message)
    await settle()
    expect(firstDifference(rig.received[0], message)).toBe(-1)
    // Two full payloads need three chunks once headers take their share.
    expect(rig.near.sentCount).toBe(3)
  })

  it('delivers any small message with any chunk size byte-identical', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 4_096 }),
        fc.integer({ min: CHUNK_HEADER_BYTES + 1, max: 1_024 }),
        async (message, maxMessageSize) => {
          const rig = transferRig({ maxMessageSize })
          await rig.sender.send(message)
          await settle()
          expect(rig.errors).toEqual([])
          expect(rig.received).toEqual([message])
        },
      ),
      { numRuns: 60 },
    )
  })

  it('delivers multi-MiB messages with any chunk size byte-identical, under backpressure', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1 * MiB, max: 6 * MiB }),
        fc.integer({ min: 16 * 1024, max: 512 * 1024 }),
        fc.integer({ min: 1, max: 0xffffffff }),
        async (size, maxMessageSize, seed) => {
          const rig = transferRig({ maxMessageSize, delivery: 'manual' })
          const message = bytesOf(size, seed)
          const sent = track(rig.sender.send(message))
          await settle()
          await drainUntil(rig.near, () => sent.done, Math.min(maxMessageSize, MAX_CHUNK_BYTES))
          rig.near.drain()
          expect(sent.error).toBeUndefined()
          expect(rig.errors).toEqual([])
          expect(rig.received).toHaveLength(1)
          expect(firstDifference(rig.received[0], message)).toBe(-1)
        },
      ),
      { numRuns: 6 },
    )
  })

  it('interleaves concurrent transfers chunk by chunk, so a small message overtakes a big one', async () => {
    const rig = transferRig({ delivery: 'manual' })
    const big = bytesOf(8 * MiB, 1)
    const small = bytesOf(100, 2)
    const finished: string[] = []
    const bigSent = track(rig.sender.send(big).then(() => void finished.push('big')))
    await settle()
    // The channel is full and nothing drained yet: the big transfer is paused midway.
    expect(bigSent.done).toBe(false)
    const smallSent = track(rig.sender.send(small).then(() => void finished.push('small')))
    await drainUntil(rig.near, () => bigSent.done && smallSent.done, MAX_CHUNK_BYTES)
    rig.near.drain()

    expect(finished).toEqual(['small', 'big'])
    expect(rig.errors).toEqual([])
    // The receiver completes the small one first, too.
    expect(rig.received).toHaveLength(2)
    expect(firstDifference(rig.received[0], small)).toBe(-1)
    expect(firstDifference(rig.received[1], big)).toBe(-1)
    const smallAt = rig.arrivals.indexOf(2)
    expect(smallAt).toBeGreaterThan(0)
    expect(smallAt).toBeLessThan(rig.arrivals.lastIndexOf(1))
  })

  it('takes turns between transfers queued together', async () => {
    const rig = transferRig({ delivery: 'manual' })
    const filler = track(rig.sender.send(bytesOf(8 * MiB, 1)))
    await settle()
    const messages = [2, 3, 4].map((seed) => bytesOf(4 * MAX_CHUNK_BYTES, seed))
    const sends = messages.map((message) => track(rig.sender.send(message)))
    await drainUntil(rig.near, () => filler.done && sends.every((s) => s.done), MAX_CHUNK_BYTES)
    rig.near.drain()
    // Once the three are queued, chunks go round robin until the filler runs out.
    const afterPause = rig.arrivals.slice(rig.arrivals.indexOf(2))
    expect(afterPause.slice(0, 8)).toEqual([2, 3, 4, 1, 2, 3, 4, 1])
    messages.forEach((message, index) => {
      expect(firstDifference(rig.received[index], message)).toBe(-1)
    })
  })

  it('keeps bufferedAmount under HIGH_WATER_BYTES plus one chunk and resumes only after draining', async () => {
    const rig = transferRig({ delivery: 'manual' })
    const messages = [1, 2, 3].map((seed) => bytesOf(3 * MiB + seed, seed))
    const sends = messages.map((message) => track(rig.sender.send(message)))
    await settle()

    // Paused at the high-water mark, at most one chunk above it.
    const pausedAt = rig.near.sentCount
    expect(rig.near.bufferedAmount()).toBeGreaterThan(HIGH_WATER_BYTES)
    expect(rig.near.bufferedAmount()).toBeLessThanOrEqual(HIGH_WATER_BYTES + MAX_CHUNK_BYTES)
    expect(rig.near.drainListenerCount).toBe(1)

    // Draining to just above the low-water mark does not wake the sender.
    rig.near.drain(rig.near.bufferedAmount() - LOW_WATER_BYTES - MAX_CHUNK_BYTES)
    await settle()
    expect(rig.near.bufferedAmount()).toBeGreaterThan(LOW_WATER_BYTES)
    expect(rig.near.sentCount).toBe(pausedAt)

    // Draining below it does, and the sender fills the channel up to the mark again.
    rig.near.drain(2 * MAX_CHUNK_BYTES)
    expect(rig.near.bufferedAmount()).toBeLessThanOrEqual(LOW_WATER_BYTES)
    await settle()
    expect(rig.near.sentCount).toBeGreaterThan(pausedAt)
    expect(rig.near.bufferedAmount()).toBeGreaterThan(HIGH_WATER_BYTES)

    await drainUntil(rig.near, () => sends.every((s) => s.done), MAX_CHUNK_BYTES)
    rig.near.drain()
    expect(rig.near.peakBufferedAmount).toBeLessThanOrEqual(HIGH_WATER_BYTES + MAX_CHUNK_BYTES)
    expect(sends.map((s) => s.error)).toEqual([undefined, undefined, undefined])
    expect(rig.received).toHaveLength(3)
    messages.forEach((message, index) => {
      expect(firstDifference(rig.received[index], message)).toBe(-1)
    })
  })

  it('close() rejects queued transfers with peer-gone, stops sending, and rejects later sends', async () => {
    const rig = transferRig({ delivery: 'manual' })
    const sends = [8 * MiB, 10, 0].map((size) => track(rig.sender.send(bytesOf(size, size))))
    await settle()
    const sentBeforeClose = rig.near.sentCount
    expect(sends.some((s) => s.done)).toBe(false)

    const gone = new CohortError('peer-gone', 'peer left')
    rig.sender.close(gone)
    await settle()
    for (const sent of sends) {
      expect(sent.done).toBe(true)
      expect(sent.error).toBe(gone)
    }
    expect(rig.near.drainListenerCount).toBe(0)

    rig.near.drain()
    await settle()
    expect(rig.near.sentCount).toBe(sentBeforeClose)
    await expect(rig.sender.send(bytesOf(5, 5))).rejects.toMatchObject({ code: 'peer-gone' })
    // Closing twice keeps the first reason.
    rig.sender.close(new CohortError('internal', 'again'))
    await expect(rig.sender.send(new Uint8Array())).rejects.toBe(gone)
  })

  it('fails every transfer with peer-gone when the channel refuses a chunk', async () => {
    const rig = transferRig({ delivery: 'manual' })
    const sends = [6 * MiB, 10].map((size) => track(rig.sender.send(bytesOf(size, size))))
    await settle()
    // A closed data channel fires its drain listeners and then throws on send.
    rig.near.close()
    await settle()
    for (const sent of sends) expect(sent.error).toMatchObject({ code: 'peer-gone' })
    await expect(rig.sender.send(bytesOf(1, 1))).rejects.toMatchObject({ code: 'peer-gone' })
  })
})

describe('ChunkAssembler rejects misbehaving peers', () => {
  const chunkBytes = 64 + CHUNK_HEADER_BYTES
  const room = chunkBytes - CHUNK_HEADER_BYTES
  const chunksOf = (message: Uint8Array, transferId: number) => [
    ...splitIntoChunks(message, transferId, chunkBytes),
  ]
  const at = <T>(items: readonly T[], index: number): T => {
    const item = items[index]
    if (item === undefined) throw new Error(`no item ${index}`)
    return item
  }
  /** Rewrites a chunk's announced total, as a lying peer would. */
  const withTotal = (chunk: Uint8Array, totalBytes: number) => {
    const copy = chunk.slice()
    new DataView(copy.buffer).setUint32(12, totalBytes)
    return copy
  }

  /**
   * Runs `misbehave` while another transfer is half received, then checks that transfer and a
   * fresh one still complete. A rejected transfer must not stay half open.
   */
  function withBystander(
    limits: AssemblerLimits,
    misbehave: (assembler: ChunkAssembler) => void,
    { allowLeftovers = false } = {},
  ): void {
    const assembler = new ChunkAssembler(limits)
    const bystander = bytesOf(3 * room + 5, 77)
    const bystanderChunks = chunksOf(bystander, 77)
    expect(unwrap(assembler.push(at(bystanderChunks, 0)))).toBeNull()
    expect(unwrap(assembler.push(at(bystanderChunks, 1)))).toBeNull()

    misbehave(assembler)
    // Whatever the misbehaving peer left half open, beside the bystander.
    const leftovers = assembler.openTransfers - 1
    if (!allowLeftovers) expect(leftovers).toBe(0)

    expect(unwrap(assembler.push(at(bystanderChunks, 2)))).toBeNull()
    expect(unwrap(assembler.push(at(bystanderChunks, 3)))).toEqual(bystander)
    const fresh = bytesOf(room + 1, 78)
    const freshChunks = chunksOf(fresh, 78)
    expect(unwrap(assembler.push(at(freshChunks, 0)))).toBeNull()
    expect(unwrap(assembler.push(at(freshChunks, 1)))).toEqual(fresh)
    expect(assembler.openTransfers).toBe(leftovers)
  }

  const limits: AssemblerLimits = {
    maxMessageBytes: 10 * room,
    maxOpenBytes: 100 * room,
    maxOpenTransfers: 4,
    idleMs: 30_000,
  }

  it('rejects an out-of-order chunk', () => {
    withBystander(limits, (assembler) => {
      const chunks = chunksOf(bytesOf(3 * room, 1), 1)
      expect(unwrap(assembler.push(at(chunks, 0)))).toBeNull()
      expectError(assembler.push(at(chunks, 2)), 'bad-frame', /out of order/)
      // The broken transfer is dropped, not left half open.
      expectError(assembler.push(at(chunks, 1)), 'bad-frame', /never started/)
    })
  })

  it('rejects a repeated chunk', () => {
    withBystander(limits, (assembler) => {
      const chunks = chunksOf(bytesOf(3 * room, 1), 1)
      expect(unwrap(assembler.push(at(chunks, 0)))).toBeNull()
      expect(unwrap(assembler.push(at(chunks, 1)))).toBeNull()
      expectError(assembler.push(at(chunks, 1)), 'bad-frame', /out of order/)
    })
  })

  it('rejects a second FIRST chunk for an open transfer', () => {
    withBystander(limits, (assembler) => {
      const chunks = chunksOf(bytesOf(2 * room + 1, 1), 1)
      expect(unwrap(assembler.push(at(chunks, 0)))).toBeNull()
      expectError(assembler.push(at(chunks, 0)), 'bad-frame', /started twice/)
    })
  })

  it('rejects chunks of a transfer that never started', () => {
    withBystander(limits, (assembler) => {
      const chunks = chunksOf(bytesOf(3 * room, 1), 1)
      expectError(assembler.push(at(chunks, 1)), 'bad-frame', /never started/)
      expectError(assembler.push(at(chunks, 2)), 'bad-frame', /never started/)
    })
  })

  it('rejects an announced total above maxMessageBytes and accepts one at the limit', () => {
    withBystander(limits, (assembler) => {
      const tooBig = chunksOf(bytesOf(limits.maxMessageBytes + 1, 1), 1)
      expectError(assembler.push(at(tooBig, 0)), 'bad-frame', /exceeds/)
      expectError(assembler.push(at(tooBig, 1)), 'bad-frame', /never started/)
      expect(assembler.openTransfers).toBe(1)
      const atLimit = bytesOf(limits.maxMessageBytes, 2)
      const chunks = chunksOf(atLimit, 2)
      const results = chunks.map((chunk) => unwrap(assembler.push(chunk)))
      expect(results.at(-1)).toEqual(atLimit)
    })
  })

  it('rejects a huge announced total without allocating it', () => {
    const assembler = new ChunkAssembler()
    const first = withTotal(at(chunksOf(bytesOf(2 * room, 1), 1), 0), 0xffffffff)
    expect(0xffffffff).toBeGreaterThan(DEFAULT_ASSEMBLER_LIMITS.maxMessageBytes)
    expectError(assembler.push(first), 'bad-frame', /exceeds/)
    expect(assembler.openTransfers).toBe(0)
  })

  it('rejects more open transfers than maxOpenTransfers', () => {
    withBystander(limits, (assembler) => {
      const transfers = [1, 2, 3, 4].map((id) => chunksOf(bytesOf(2 * room, id), id))
      // The bystander holds one slot, so three more fit.
      for (const chunks of transfers.slice(0, 3))
        expect(unwrap(assembler.push(at(chunks, 0)))).toBeNull()
      expectError(assembler.push(at(at(transfers, 3), 0)), 'bad-frame', /in flight/)
      expect(assembler.openTransfers).toBe(4)
      // The ones admitted still complete, freeing their slots.
      for (const chunks of transfers.slice(0, 3))
        expect(unwrap(assembler.push(at(chunks, 1)))).not.toBeNull()
      expect(assembler.openTransfers).toBe(1)
    })
  })

  it('rejects chunks that overrun the announced size', () => {
    withBystander(limits, (assembler) => {
      const chunks = chunksOf(bytesOf(2 * room, 1), 1).map((chunk) => withTotal(chunk, room + 1))
      expect(unwrap(assembler.push(at(chunks, 0)))).toBeNull()
      expectError(assembler.push(at(chunks, 1)), 'bad-frame', /overrun/)
      expect(assembler.openTransfers).toBe(1)
    })
  })

  it('rejects a first chunk bigger than its announced total', () => {
    withBystander(limits, (assembler) => {
      const first = withTotal(at(chunksOf(bytesOf(2 * room, 1), 1), 0), room - 1)
      expectError(assembler.push(first), 'bad-frame', /overrun/)
    })
  })

  it('rejects a transfer that ends short of its announced size', () => {
    withBystander(limits, (assembler) => {
      const chunks = chunksOf(bytesOf(2 * room, 1), 1).map((chunk) => withTotal(chunk, 3 * room))
      expect(unwrap(assembler.push(at(chunks, 0)))).toBeNull()
      expectError(assembler.push(at(chunks, 1)), 'bad-frame', /short/)
    })
  })

  it('rejects chunks whose announced totals disagree', () => {
    withBystander(limits, (assembler) => {
      const chunks = chunksOf(bytesOf(3 * room, 1), 1)
      expect(unwrap(assembler.push(at(chunks, 0)))).toBeNull()
      expectError(assembler.push(withTotal(at(chunks, 1), 4 * room)), 'bad-frame', /inconsistent/)
    })
  })

  it('rejects a single chunk that does not hold its whole transfer', () => {
    withBystander(limits, (assembler) => {
      const single = withTotal(at(chunksOf(bytesOf(10, 1), 1), 0), 11)
      expectError(assembler.push(single), 'bad-frame', /whole transfer/)
    })
  })

  it('rejects bytes that are not a chunk', () => {
    withBystander(limits, (assembler) => {
      expectError(assembler.push(new Uint8Array(3)), 'bad-frame')
      expectError(assembler.push(new Uint8Array(CHUNK_HEADER_BYTES)), 'bad-frame', /magic/)
    })
  })

  it('never throws on forged or arbitrary chunks and keeps completing honest transfers', () => {
    const forged = fc
      .record({
        transferId: fc.integer({ min: 1, max: 8 }),
        index: fc.integer({ min: 0, max: 4 }),
        totalBytes: fc.oneof(fc.integer({ min: 0, max: 4 * room }), fc.constant(0xffffffff)),
        flags: fc.integer({ min: 0, max: 3 }),
        payload: fc.uint8Array({ maxLength: room }),
      })
      .map(({ transferId, index, totalBytes, flags, payload }) => {
        const chunk = new Uint8Array(CHUNK_HEADER_BYTES + payload.length)
        const view = new DataView(chunk.buffer)
        view.setUint8(0, CHUNK_MAGIC)
        view.setUint8(1, PROTOCOL_VERSION)
        view.setUint8(2, flags)
        view.setUint32(4, transferId)
        view.setUint32(8, index)
        view.setUint32(12, totalBytes)
        chunk.set(payload, CHUNK_HEADER_BYTES)
        return chunk
      })
    const junk = fc.array(fc.oneof(forged, fc.uint8Array({ maxLength: 2 * chunkBytes })), {
      maxLength: 30,
    })
    // Junk uses transfer ids 1..8, so with 16 slots it can never crowd out the bystander.
    const roomy: AssemblerLimits = { ...limits, maxOpenTransfers: 16 }
    fc.assert(
      fc.property(junk, (chunks) => {
        withBystander(
          roomy,
          (assembler) => {
            for (const chunk of chunks) {
              const result = assembler.push(chunk)
              if (!result.ok) expect(['bad-frame', 'version-mismatch']).toContain(result.error.code)
            }
            expect(assembler.openTransfers).toBeLessThanOrEqual(9)
          },
          { allowLeftovers: true },
        )
      }),
      { numRuns: 200 },
    )
  })
})
