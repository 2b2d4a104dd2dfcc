import {
  CHUNK_FIRST,
  CHUNK_HEADER_BYTES,
  CHUNK_MAGIC,
  type DeviceId,
  encodePeerMessage,
  PROTOCOL_VERSION,
  RequestIdSchema,
  type Result,
  splitIntoChunks,
} from '@cohort/protocol'
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
  reportedBadFrames,
  type SessionSide,
  sessionPair,
  TEST_HEARTBEAT,
} from './testing/session-pair.ts'
import { DEFAULT_ASSEMBLER_LIMITS, MAX_CHUNK_BYTES } from './transfer.ts'

const HEARTBEAT = TEST_HEARTBEAT
const MiB = 1024 * 1024
const REQUEST_ID = RequestIdSchema.parse('r1')

/** The first chunk of a real 2 MiB echo request: a well-formed start of a transfer. */
function realFirstChunk(transferId: number): Uint8Array {
  const data = new Uint8Array(2 * MiB)
  const message = encodePeerMessage(
    { type: 'request', requestId: REQUEST_ID, method: 'echo', deadlineMs: 60_000 },
    [
      {
        kind: 'request',
        requestId: REQUEST_ID,
        name: 'x',
        dtype: 'uint8',
        dims: [data.length],
        data,
      },
    ],
  )
  const first = splitIntoChunks(message, transferId, MAX_CHUNK_BYTES).next()
  if (first.done) throw new Error('no chunk')
  return first.value
}

/** A first chunk announcing `totalBytes` whose payload is not a peer message. */
function junkFirstChunk(transferId: number, totalBytes: number): Uint8Array {
  const chunk = new Uint8Array(CHUNK_HEADER_BYTES + 1_000).fill(0xab)
  const view = new DataView(chunk.buffer)
  view.setUint8(0, CHUNK_MAGIC)
  view.setUint8(1, PROTOCOL_VERSION)
  view.setUint8(2, CHUNK_FIRST)
  view.setUint32(4, transferId)
  view.setUint32(8, 0)
  view.setUint32(12, totalBytes)
  return chunk
}

async function answer(
  promise: Promise<Result<RpcReply, unknown>>,
  advance = () => vi.advanceTimersByTimeAsync(0),
) {
  let outcome: Result<RpcReply, unknown> | undefined
  void promise.then((value) => {
    outcome = value
  })
  for (let step = 0; step < 100 && !outcome; step++) await advance()
  if (!outcome?.ok) throw new Error(`expected a reply, got ${JSON.stringify(outcome)}`)
  return outcome.value
}

describe('PeerSession receive limits', () => {
  const sessions: PeerSession[] = []
  const pair = (ids: readonly [DeviceId, DeviceId]) => {
    const sides = sessionPair({ ids, heartbeat: HEARTBEAT, handlers: { echo } })
    for (const side of sides) sessions.push(side.session)
    return sides
  }
  /** Sends `frames` on `from`'s channel, as a misbehaving peer would, and lets them arrive. */
  const inject = async (from: SessionSide, frames: readonly Uint8Array[]) => {
    for (const frame of frames) from.end.send(frame)
    await vi.advanceTimersByTimeAsync(0)
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

  it('refuses a first chunk that holds no peer message before holding anything', async () => {
    const [alice, bob] = pair([ALICE, BOB])
    await inject(alice, [junkFirstChunk(900, 16 * MiB)])
    expect(bob.session.receiveStats).toEqual({
      badFrames: 1,
      openTransfers: 0,
      announcedBytes: 0,
      heldBytes: 0,
    })
    expect(bob.log.bad[0]?.error.message).toMatch(/does not start with a peer message/)
  })

  it('holds only what arrived of a transfer that announces much, and drops it once idle', async () => {
    const [alice, bob] = pair([ALICE, BOB])
    await inject(alice, [realFirstChunk(900)])
    const { announcedBytes, heldBytes, openTransfers } = bob.session.receiveStats
    expect(openTransfers).toBe(1)
    expect(announcedBytes).toBeGreaterThan(2 * MiB)
    expect(heldBytes).toBe(MAX_CHUNK_BYTES - CHUNK_HEADER_BYTES)
    await vi.advanceTimersByTimeAsync(DEFAULT_ASSEMBLER_LIMITS.idleMs + HEARTBEAT.intervalMs)
    expect(bob.session.receiveStats).toEqual({
      badFrames: 1,
      openTransfers: 0,
      announcedBytes: 0,
      heldBytes: 0,
    })
    expect(bob.log.bad.at(-1)?.error.message).toMatch(/no chunk for 30000 ms/)
    expect(bob.session.open).toBe(true)
  })

  it('cuts off a peer flooding bad frames as misbehaving, in two reports and not silent', async () => {
    const [alice, bob] = pair([ALICE, BOB])
    const [carolSide, bobToCarol] = pair([CAROL, BOB])
    const flood = Array.from({ length: 3 * DEFAULT_BAD_FRAME_LIMITS.maxPerWindow }, (_, index) =>
      new Uint8Array(20).fill(index & 0xff),
    )
    await inject(alice, flood)
    expect(bob.log.ended).toEqual(['misbehaving'])
    // The first bad frame at once, the rest of the window when the session ended: two calls
    // (two log lines) for the whole flood.
    expect(bob.log.bad.map((report) => report.count)).toEqual([
      1,
      DEFAULT_BAD_FRAME_LIMITS.maxPerWindow,
    ])
    // The other link is untouched and keeps answering.
    await vi.advanceTimersByTimeAsync(5 * HEARTBEAT.deadAfterMs)
    expect(bobToCarol.session.open).toBe(true)
    expect(carolSide.log.ended).toEqual([])
    const tensor = { name: 't', dtype: 'uint8', dims: [2], data: new Uint8Array([4, 2]) } as const
    const reply = await answer(carolSide.session.request('echo', [tensor], { deadlineMs: 1_000 }))
    expect(Array.from(reply.frames[0]?.data ?? [])).toEqual([4, 2])
  })

  it('counts any message, text included, as a sign of life while under the limit', async () => {
    const [, bob] = pair([ALICE, BOB])
    // Alice's own heartbeats are lost; only junk (binary and text) arrives, 20 frames per 50 ms.
    bob.end.onMessage(() => {})
    for (let step = 0; step < (10 * HEARTBEAT.deadAfterMs) / 50; step++) {
      for (let frame = 0; frame < 10; frame++) bob.session.deliver(messageBytes('not binary'))
      for (let frame = 0; frame < 10; frame++) bob.session.deliver(new Uint8Array([1, 2, 3]))
      await vi.advanceTimersByTimeAsync(50)
    }
    expect(bob.session.open).toBe(true)
    expect(bob.session.receiveStats.badFrames).toBe(2_000)
    // 5 s of junk: the first at once, the rest in reports at most one per interval.
    expect(bob.log.bad.length).toBeLessThanOrEqual(2)
    bob.session.end('closed')
    expect(reportedBadFrames(bob.log)).toBe(2_000)
  })

  it('turns text and Blob messages into an empty frame, never drops them', () => {
    expect(messageBytes('text')).toEqual(new Uint8Array(0))
    expect(messageBytes(new Blob(['x']))).toEqual(new Uint8Array(0))
    const buffer = new Uint8Array([1, 2]).buffer
    expect(messageBytes(buffer)).toEqual(new Uint8Array([1, 2]))
  })

  it('serves a well-behaved burst of big requests (more than the budget at once) without a bad frame', async () => {
    const [alice, bob] = pair([ALICE, BOB])
    const count = 12
    const data = new Uint8Array(3 * MiB).fill(7)
    // 36 MiB queued at once: more than the receiver's 32 MiB budget, so the sender must pace it.
    const replies = await Promise.all(
      Array.from({ length: count }, () =>
        answer(
          alice.session.request(
            'echo',
            [{ name: 'x', dtype: 'uint8', dims: [data.length], data }],
            {
              deadlineMs: 60_000,
            },
          ),
        ),
      ),
    )
    expect(replies.map((reply) => reply.frames[0]?.data.length)).toEqual(
      Array.from({ length: count }, () => data.length),
    )
    expect(alice.session.receiveStats.badFrames).toBe(0)
    expect(bob.session.receiveStats.badFrames).toBe(0)
    expect(bob.session.receiveStats.heldBytes).toBe(0)
  })
})
