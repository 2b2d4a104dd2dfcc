import {
  CHUNK_HEADER_BYTES,
  type CohortError,
  type DeviceId,
  type Result,
  splitIntoChunks,
} from '@cohort/protocol'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DEFAULT_BAD_FRAME_LIMITS } from './bad-frames.ts'
import { MAX_BYTES_PER_MS } from './link-estimate.ts'
import { type HeartbeatOptions, PeerSession, type SessionEndReason } from './peer-session.ts'
import type { RpcHandler, RpcReply } from './rpc.ts'
import { type MemoryChannelEnd, memoryChannelPair } from './testing/memory-channel.ts'

const ALICE = 'alice0001' as DeviceId
const BOB = 'bob000001' as DeviceId
const HEARTBEAT: HeartbeatOptions = { intervalMs: 100, deadAfterMs: 500 }

interface SessionLog {
  /** The latest error of each bad-message report. */
  readonly bad: CohortError[]
  /** How many bad frames each report stands for. */
  readonly badCounts: number[]
  readonly ended: SessionEndReason[]
}

/** Alice's and Bob's sessions over an in-memory channel pair. */
function connect(handlers: {
  alice?: Record<string, RpcHandler>
  bob?: Record<string, RpcHandler>
}) {
  const [aliceEnd, bobEnd] = memoryChannelPair()
  const logs = {
    alice: { bad: [], badCounts: [], ended: [] } as SessionLog,
    bob: { bad: [], badCounts: [], ended: [] } as SessionLog,
  }
  const open = (self: 'alice' | 'bob', peer: DeviceId, end: MemoryChannelEnd): PeerSession => {
    const log = logs[self]
    const session = new PeerSession(
      peer,
      end,
      (method) => handlers[self]?.[method],
      {
        onBadMessage: (error, count) => {
          log.bad.push(error)
          log.badCounts.push(count)
        },
        onEnd: (reason) => void log.ended.push(reason),
      },
      HEARTBEAT,
    )
    end.onMessage((bytes) => session.deliver(bytes))
    return session
  }
  const alice = open('alice', BOB, aliceEnd)
  const bob = open('bob', ALICE, bobEnd)
  return { alice, bob, aliceEnd, bobEnd, logs }
}

function watch(promise: Promise<Result<RpcReply, CohortError>>) {
  const outcomes: Result<RpcReply, CohortError>[] = []
  const rejected: unknown[] = []
  promise.then(
    (outcome) => void outcomes.push(outcome),
    (error: unknown) => void rejected.push(error),
  )
  return { outcomes, rejected }
}

function failureOf(state: ReturnType<typeof watch>): CohortError {
  expect(state.rejected).toEqual([])
  expect(state.outcomes).toHaveLength(1)
  const [outcome] = state.outcomes
  if (!outcome || outcome.ok) throw new Error('expected an error outcome')
  return outcome.error
}

function replyOf(state: ReturnType<typeof watch>): RpcReply {
  expect(state.rejected).toEqual([])
  expect(state.outcomes).toHaveLength(1)
  const [outcome] = state.outcomes
  if (!outcome?.ok) throw new Error(`expected a reply, got ${outcome?.error.code}`)
  return outcome.value
}

const echo: RpcHandler = async (request) => ({ frames: request.frames })

describe('PeerSession', () => {
  const sessions: PeerSession[] = []
  const track = <T extends { alice: PeerSession; bob: PeerSession }>(rig: T): T => {
    sessions.push(rig.alice, rig.bob)
    return rig
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

  it('stays open far past deadAfterMs while heartbeats flow, even with no requests', async () => {
    const rig = track(connect({}))
    await vi.advanceTimersByTimeAsync(20 * HEARTBEAT.deadAfterMs)
    expect(rig.alice.open).toBe(true)
    expect(rig.bob.open).toBe(true)
    expect(rig.logs.alice.ended).toEqual([])
    expect(rig.logs.bob.ended).toEqual([])
    // One heartbeat at start and one per interval, each a single chunk.
    const expected = 1 + (20 * HEARTBEAT.deadAfterMs) / HEARTBEAT.intervalMs
    expect(rig.aliceEnd.sentCount).toBe(expected)
    expect(rig.bobEnd.sentCount).toBe(expected)
    expect(rig.logs.alice.bad).toEqual([])
  })

  it('ends with reason silent once the peer has been quiet for deadAfterMs', async () => {
    const rig = track(connect({ bob: { slow: () => new Promise(() => {}) } }))
    await vi.advanceTimersByTimeAsync(1_000)
    const pending = watch(rig.alice.request('slow', [], { deadlineMs: 60_000 }))
    await vi.advanceTimersByTimeAsync(0)
    // Bob's side of the network goes dead: nothing he sends reaches Alice any more.
    rig.aliceEnd.onMessage(() => {})

    await vi.advanceTimersByTimeAsync(HEARTBEAT.deadAfterMs)
    expect(rig.alice.open).toBe(true)
    await vi.advanceTimersByTimeAsync(HEARTBEAT.intervalMs)
    expect(rig.alice.open).toBe(false)
    expect(rig.logs.alice.ended).toEqual(['silent'])
    expect(failureOf(pending).code).toBe('peer-gone')

    // Ended sessions stay ended and quiet.
    const sentAtEnd = rig.aliceEnd.sentCount
    await vi.advanceTimersByTimeAsync(10 * HEARTBEAT.intervalMs)
    expect(rig.aliceEnd.sentCount).toBe(sentAtEnd)
    expect(rig.logs.alice.ended).toEqual(['silent'])
  })

  it('counts any arriving chunk as a sign of life', async () => {
    const rig = track(connect({}))
    // Bob's heartbeats are lost but other traffic (here, stray junk) keeps arriving.
    rig.aliceEnd.onMessage(() => rig.alice.deliver(new Uint8Array([1, 2, 3])))
    await vi.advanceTimersByTimeAsync(5 * HEARTBEAT.deadAfterMs)
    expect(rig.alice.open).toBe(true)
    expect(rig.logs.alice.bad.length).toBeGreaterThan(0)
  })

  it('reports bad bytes as bad-frame and keeps working', async () => {
    const rig = track(connect({ alice: { echo }, bob: { echo } }))
    // Not a chunk at all.
    rig.bobEnd.send(new Uint8Array([1, 2, 3]))
    // A well-formed chunk holding something that is not a peer message.
    const [junkMessage] = [...splitIntoChunks(new Uint8Array(40).fill(7), 999, 1024)]
    if (!junkMessage) throw new Error('no chunk')
    rig.bobEnd.send(junkMessage)
    // A chunk of a transfer that never started.
    const chunks = [...splitIntoChunks(new Uint8Array(100), 1_000, CHUNK_HEADER_BYTES + 40)]
    rig.bobEnd.send(chunks[1] ?? new Uint8Array())
    await vi.advanceTimersByTimeAsync(0)

    // All three are counted; the first is reported at once, the other two folded into one
    // report after the report interval.
    expect(rig.alice.receiveStats.badFrames).toBe(3)
    expect(rig.logs.alice.bad.map((error) => error.code)).toEqual(['bad-frame'])
    await vi.advanceTimersByTimeAsync(DEFAULT_BAD_FRAME_LIMITS.reportIntervalMs)
    expect(rig.logs.alice.bad.map((error) => error.code)).toEqual(['bad-frame', 'bad-frame'])
    expect(rig.logs.alice.badCounts).toEqual([1, 2])
    expect(rig.alice.open).toBe(true)

    const tensor = {
      name: 't',
      dtype: 'uint8',
      dims: [3],
      data: new Uint8Array([9, 8, 7]),
    } as const
    const fromAlice = watch(rig.alice.request('echo', [tensor], { deadlineMs: 1_000 }))
    const fromBob = watch(rig.bob.request('echo', [tensor], { deadlineMs: 1_000 }))
    await vi.advanceTimersByTimeAsync(0)
    expect(Array.from(replyOf(fromAlice).frames[0]?.data ?? [])).toEqual([9, 8, 7])
    expect(Array.from(replyOf(fromBob).frames[0]?.data ?? [])).toEqual([9, 8, 7])
    expect(rig.logs.alice.ended).toEqual([])
  })

  it('end() fails pending requests with peer-gone, reports once, and refuses new requests', async () => {
    const rig = track(connect({ bob: { slow: () => new Promise(() => {}) } }))
    const first = watch(rig.alice.request('slow', [], { deadlineMs: 10_000 }))
    const second = watch(rig.alice.request('slow', [], { deadlineMs: 10_000 }))
    await vi.advanceTimersByTimeAsync(10)

    rig.alice.end('left')
    await vi.advanceTimersByTimeAsync(0)
    expect(failureOf(first).code).toBe('peer-gone')
    expect(failureOf(second).code).toBe('peer-gone')
    expect(failureOf(first).message).toMatch(/left/)
    expect(rig.alice.open).toBe(false)

    rig.alice.end('closed')
    expect(rig.logs.alice.ended).toEqual(['left'])
    const later = watch(rig.alice.request('slow', [], { deadlineMs: 1_000 }))
    await vi.advanceTimersByTimeAsync(0)
    expect(failureOf(later).code).toBe('peer-gone')

    // Bob, no longer hearing Alice, declares her silent in turn.
    await vi.advanceTimersByTimeAsync(HEARTBEAT.deadAfterMs + HEARTBEAT.intervalMs)
    expect(rig.logs.bob.ended).toEqual(['silent'])
  })

  it('carries a multi-MiB tensor both ways intact and measures the round trip', async () => {
    const data = new Float32Array(1_500_000)
    for (let index = 0; index < data.length; index++) data[index] = Math.sin(index) * index
    const rig = track(
      connect({
        bob: {
          echo: async (request) => {
            await new Promise((resolve) => setTimeout(resolve, 25))
            return { frames: request.frames }
          },
        },
      }),
    )
    const state = watch(
      rig.alice.request('echo', [{ name: 'big', dtype: 'float32', dims: [1_500, 1_000], data }], {
        deadlineMs: 5_000,
      }),
    )
    await vi.advanceTimersByTimeAsync(25)
    const reply = replyOf(state)
    const frame = reply.frames[0]
    if (frame?.dtype !== 'float32') throw new Error('expected a float32 frame')
    expect(frame.dims).toEqual([1_500, 1_000])
    expect(
      Buffer.compare(
        Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength),
        Buffer.from(data.buffer),
      ),
    ).toBe(0)
    // Delivery takes no fake time, so the network share of the round trip is zero.
    expect(reply.timings.serveMs).toBe(25)
    expect(reply.roundTripMs).toBe(25)
    // A large message alone gives neither figure; with a small one, the round trip (zero) and a
    // bandwidth too fast for fake time to resolve.
    expect(rig.alice.rttMs).toBeNull()
    const small = watch(rig.alice.request('echo', [], { deadlineMs: 1_000 }))
    await vi.advanceTimersByTimeAsync(25)
    replyOf(small)
    expect(rig.alice.rttMs).toBe(0)
    expect(rig.alice.bytesPerMs).toBe(MAX_BYTES_PER_MS)
    expect(rig.logs.alice.bad).toEqual([])
    expect(rig.logs.bob.bad).toEqual([])
  })

  it('fails a request whose tensors cannot be encoded without hurting the session', async () => {
    const rig = track(connect({ bob: { echo } }))
    const bad = watch(
      rig.alice.request(
        'echo',
        [{ name: 'x', dtype: 'int32', dims: [4], data: new Int32Array(3) }],
        { deadlineMs: 1_000 },
      ),
    )
    await vi.advanceTimersByTimeAsync(0)
    expect(failureOf(bad).code).toBe('bad-frame')
    const good = watch(rig.alice.request('echo', [], { deadlineMs: 1_000 }))
    await vi.advanceTimersByTimeAsync(0)
    expect(replyOf(good).frames).toEqual([])
    expect(rig.alice.open).toBe(true)
  })
})
