import {
  CohortError,
  type DeviceId,
  decodePeerMessage,
  encodePeerMessage,
  type Json,
  type PeerMeta,
  type Result,
  type Tensor,
  toCohortError,
} from '@cohort/protocol'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  type IncomingRequest,
  MAX_RUNNING_PER_PEER,
  RpcEndpoint,
  type RpcHandler,
  type RpcReply,
  type SendMessage,
} from './rpc.ts'

const ALICE = 'alice0001' as DeviceId
const BOB = 'bob000001' as DeviceId

interface WireEntry {
  readonly from: 'alice' | 'bob'
  readonly meta: PeerMeta
}

/**
 * Alice and Bob, each an RpcEndpoint, wired through the real codec: every message is encoded,
 * handed over on a microtask and decoded, as a data channel would.
 */
function connect(handlers: {
  alice?: Record<string, RpcHandler>
  bob?: Record<string, RpcHandler>
}) {
  const wire: WireEntry[] = []
  const undecodable: CohortError[] = []
  /** Messages for which this returns true are lost on the way. */
  let drop: (entry: WireEntry) => boolean = () => false
  /** When set, sending fails as on a closed link. */
  let linkDown = false
  const endpoints: { alice?: RpcEndpoint; bob?: RpcEndpoint } = {}
  const link =
    (from: 'alice' | 'bob', to: 'alice' | 'bob'): SendMessage =>
    (meta, frames) => {
      if (linkDown) return Promise.reject(new CohortError('peer-gone', 'the link is down'))
      let bytes: Uint8Array
      try {
        bytes = encodePeerMessage(meta, frames)
      } catch (error) {
        // As PeerSession does: an unencodable message fails its send, not the link.
        return Promise.reject(toCohortError(error, 'bad-frame'))
      }
      const entry = { from, meta }
      wire.push(entry)
      if (!drop(entry)) {
        queueMicrotask(() => {
          const message = decodePeerMessage(bytes)
          if (message.ok) endpoints[to]?.receive(message.value)
          else undecodable.push(message.error)
        })
      }
      return Promise.resolve()
    }
  const alice = new RpcEndpoint(BOB, link('alice', 'bob'), (method) => handlers.alice?.[method])
  const bob = new RpcEndpoint(ALICE, link('bob', 'alice'), (method) => handlers.bob?.[method])
  endpoints.alice = alice
  endpoints.bob = bob
  return {
    alice,
    bob,
    wire,
    undecodable,
    dropWhen(predicate: (entry: WireEntry) => boolean) {
      drop = predicate
    },
    takeLinkDown() {
      linkDown = true
    },
    /** Metas of one type, sent by one side. */
    sent(from: 'alice' | 'bob', type: PeerMeta['type']) {
      return wire.filter((entry) => entry.from === from && entry.meta.type === type)
    },
  }
}

/** Counts a request's outcomes; RpcEndpoint promises exactly one and never a rejection. */
function watch(promise: Promise<Result<RpcReply, CohortError>>) {
  const state: { outcomes: Result<RpcReply, CohortError>[]; rejected: unknown[] } = {
    outcomes: [],
    rejected: [],
  }
  promise.then(
    (outcome) => void state.outcomes.push(outcome),
    (error: unknown) => void state.rejected.push(error),
  )
  return state
}

function expectFailure(
  state: ReturnType<typeof watch>,
  code: CohortError['code'],
  message?: RegExp,
): CohortError {
  expect(state.rejected).toEqual([])
  expect(state.outcomes).toHaveLength(1)
  const [outcome] = state.outcomes
  if (!outcome || outcome.ok)
    throw new Error(`expected a ${code} error, got ${String(outcome?.ok)}`)
  expect(outcome.error).toBeInstanceOf(CohortError)
  expect(outcome.error.code).toBe(code)
  if (message) expect(outcome.error.message).toMatch(message)
  return outcome.error
}

/** A handler that never answers on its own and records how its signal ended. */
function stallingHandler() {
  const seen: IncomingRequest[] = []
  const handler: RpcHandler = (request) => {
    seen.push(request)
    return new Promise((_resolve, reject) => {
      request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true })
    })
  }
  return { handler, seen }
}

const abortCode = (request: IncomingRequest | undefined) =>
  (request?.signal.reason as CohortError | undefined)?.code

const bytesOf = (tensor: { data: ArrayBufferView }) =>
  new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength)

const fakeClock = () =>
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'],
  })

describe('RpcEndpoint', () => {
  beforeEach(() => {
    fakeClock()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('answers a request with byte-identical frames, payloads and timings', async () => {
    const tensors: Tensor[] = [
      {
        name: 'image',
        dtype: 'float32',
        dims: [2, 3],
        data: new Float32Array([1, -2.5, 3e-8, NaN, Infinity, 0]),
      },
      { name: 'mask', dtype: 'uint8', dims: [5], data: new Uint8Array([0, 1, 127, 128, 255]) },
      { name: 'scalar', dtype: 'int32', dims: [], data: new Int32Array([-(2 ** 31)]) },
      {
        name: 'half',
        dtype: 'float16',
        dims: [2, 2],
        data: new Uint16Array([0x3c00, 0x7e00, 0x8000, 1]),
      },
      { name: 'empty', dtype: 'float32', dims: [0, 4], data: new Float32Array() },
    ]
    const served: IncomingRequest[] = []
    const rig = connect({
      bob: {
        echo: async (request) => {
          served.push(request)
          await new Promise((resolve) => setTimeout(resolve, 40))
          return {
            frames: request.frames,
            timings: { inferMs: 7 },
            payload: { echoed: (request.payload ?? null) as Json },
          }
        },
      },
    })
    const state = watch(
      rig.alice.request('echo', tensors, {
        deadlineMs: 1_000,
        payload: { scale: 2.5, mode: 'fast', flag: true, route: [[1, 2], []], none: null },
      }),
    )
    expect(rig.alice.pendingCount).toBe(1)
    await vi.advanceTimersByTimeAsync(40)

    expect(state.rejected).toEqual([])
    const [outcome] = state.outcomes
    if (!outcome?.ok) throw new Error('expected a reply')
    const reply = outcome.value
    const [request] = served
    if (!request) throw new Error('bob never served the request')
    expect(request.from).toBe(ALICE)
    expect(request.method).toBe('echo')
    expect(request.payload).toEqual({
      scale: 2.5,
      mode: 'fast',
      flag: true,
      route: [[1, 2], []],
      none: null,
    })
    expect(reply.payload).toEqual({ echoed: request.payload })
    expect(request.deadlineMs).toBe(1_000)
    const sentMeta = rig.sent('alice', 'request')[0]?.meta
    if (sentMeta?.type !== 'request') throw new Error('no request on the wire')
    const { requestId } = sentMeta
    for (const frame of request.frames) {
      expect(frame.kind).toBe('request')
      expect(frame.requestId).toBe(requestId)
    }
    expect(reply.frames).toHaveLength(tensors.length)
    reply.frames.forEach((frame, index) => {
      const sent = tensors[index]
      if (!sent) throw new Error(`no tensor ${index}`)
      expect(frame.kind).toBe('response')
      expect(frame.requestId).toBe(requestId)
      expect(frame.name).toBe(sent.name)
      expect(frame.dtype).toBe(sent.dtype)
      expect(frame.dims).toEqual(sent.dims)
      expect(bytesOf(frame)).toEqual(bytesOf(sent))
    })
    // The clock is fake: the only time that passed is the handler's 40 ms.
    expect(reply.timings).toEqual({ serveMs: 40, inferMs: 7 })
    expect(reply.roundTripMs).toBe(40)
    expect(rig.alice.pendingCount).toBe(0)
    expect(rig.undecodable).toEqual([])
  })

  it.each([
    [
      'a CohortError keeps its code',
      new CohortError('no-handler', 'model not loaded yet'),
      'no-handler',
      /model not loaded yet/,
    ],
    [
      'a timeout CohortError keeps its code',
      new CohortError('timeout', 'engine stalled'),
      'timeout',
      /engine stalled/,
    ],
    [
      'a plain Error is handler-failed',
      new Error('shape mismatch'),
      'handler-failed',
      /shape mismatch/,
    ],
    ['a thrown string is handler-failed', 'kaput', 'handler-failed', /kaput/],
    [
      "another package's error keeps its wire code (the runtime's not-loaded)",
      Object.assign(new Error('mnist-student-0 is not loaded'), {
        name: 'RuntimeError',
        code: 'not-loaded',
      }),
      'not-loaded',
      /is not loaded/,
    ],
    [
      'an error whose code is no wire code is handler-failed',
      Object.assign(new Error('EPIPE'), { code: 'EPIPE' }),
      'handler-failed',
      /EPIPE/,
    ],
  ] as const)(
    'answers a throwing handler with a typed error: %s',
    async (_name, thrown, code, message) => {
      const rig = connect({
        bob: {
          fail: async () => {
            throw thrown
          },
        },
      })
      const state = watch(rig.alice.request('fail', [], { deadlineMs: 1_000 }))
      await vi.advanceTimersByTimeAsync(0)
      expectFailure(state, code, message)
      expect(rig.sent('bob', 'error')).toHaveLength(1)
    },
  )

  it('answers a handler that throws before returning its promise', async () => {
    const rig = connect({
      bob: {
        eager: () => {
          throw new Error('bad params')
        },
      },
    })
    const state = watch(rig.alice.request('eager', [], { deadlineMs: 1_000 }))
    await vi.advanceTimersByTimeAsync(0)
    expectFailure(state, 'handler-failed', /bad params/)
  })

  it('answers a handler whose reply cannot be encoded with bad-frame', async () => {
    const rig = connect({
      bob: {
        broken: async () => ({
          frames: [{ name: 'x', dtype: 'float32', dims: [3], data: new Float32Array(2) }],
        }),
      },
    })
    const state = watch(rig.alice.request('broken', [], { deadlineMs: 1_000 }))
    await vi.advanceTimersByTimeAsync(0)
    expectFailure(state, 'bad-frame')
  })

  it('answers a handler error with a long message instead of going quiet', async () => {
    const rig = connect({
      bob: {
        verbose: async () => {
          throw new Error(`ort failed: ${'x'.repeat(20_000)}`)
        },
      },
    })
    const state = watch(rig.alice.request('verbose', [], { deadlineMs: 1_000 }))
    await vi.advanceTimersByTimeAsync(0)
    const error = expectFailure(state, 'handler-failed', /^ort failed: x+$/)
    expect(error.message.length).toBeLessThanOrEqual(1_024)
    expect(rig.undecodable).toEqual([])
  })

  it("keeps a bounded number of a peer's requests running, and refuses a request id twice", async () => {
    const release: (() => void)[] = []
    const rig = connect({
      bob: {
        hold: () =>
          new Promise((resolve) => release.push(() => resolve({ frames: [], timings: {} }))),
      },
    })
    const held = Array.from({ length: MAX_RUNNING_PER_PEER }, () =>
      watch(rig.alice.request('hold', [], { deadlineMs: 60_000 })),
    )
    await vi.advanceTimersByTimeAsync(0)
    expect(release).toHaveLength(MAX_RUNNING_PER_PEER)
    const over = watch(rig.alice.request('hold', [], { deadlineMs: 60_000 }))
    await vi.advanceTimersByTimeAsync(0)
    expectFailure(over, 'rate-limited', /already serving 256/)
    expect(release).toHaveLength(MAX_RUNNING_PER_PEER)
    // One finishes: the next is served again.
    release[0]?.()
    await vi.advanceTimersByTimeAsync(0)
    expect(held[0]?.outcomes[0]?.ok).toBe(true)
    const next = watch(rig.alice.request('hold', [], { deadlineMs: 60_000 }))
    await vi.advanceTimersByTimeAsync(0)
    expect(release).toHaveLength(MAX_RUNNING_PER_PEER + 1)
    expect(next.outcomes).toEqual([])
    // The same request id again while it runs (only a misbehaving peer does that) is refused.
    const running = rig.sent('alice', 'request').at(-1)?.meta
    if (running?.type !== 'request') throw new Error('no request on the wire')
    rig.bob.receive({ meta: running, frames: [] })
    await vi.advanceTimersByTimeAsync(0)
    const refusals = rig.sent('bob', 'error').map((entry) => entry.meta)
    expect(refusals.at(-1)).toMatchObject({
      type: 'error',
      requestId: running.requestId,
      code: 'bad-message',
    })
    for (const done of release) done()
  })

  it('answers an unknown method with no-handler', async () => {
    const rig = connect({ bob: { echo: async () => ({ frames: [] }) } })
    const state = watch(rig.alice.request('classify', [], { deadlineMs: 1_000 }))
    await vi.advanceTimersByTimeAsync(0)
    expectFailure(state, 'no-handler', /classify/)
  })

  it('times out exactly once when the deadline passes and cancels the responder', async () => {
    const stall = stallingHandler()
    const rig = connect({ bob: { slow: stall.handler } })
    const state = watch(rig.alice.request('slow', [], { deadlineMs: 1_000 }))
    await vi.advanceTimersByTimeAsync(999)
    expect(state.outcomes).toEqual([])
    expect(stall.seen[0]?.signal.aborted).toBe(false)

    await vi.advanceTimersByTimeAsync(1)
    expectFailure(state, 'timeout', /slow.*1000 ms/)
    expect(rig.alice.pendingCount).toBe(0)
    // Alice told Bob, and Bob's handler saw the cancel (its own deadline timer comes later).
    const cancels = rig.sent('alice', 'cancel')
    expect(cancels).toHaveLength(1)
    expect(abortCode(stall.seen[0])).toBe('cancelled')
    // Bob does not answer an aborted request.
    await vi.advanceTimersByTimeAsync(5_000)
    expect(rig.sent('bob', 'error')).toEqual([])
    expect(rig.sent('bob', 'response')).toEqual([])
    expect(state.outcomes).toHaveLength(1)
  })

  it('ignores a late response or error after the timeout', async () => {
    const rig = connect({ bob: { slow: stallingHandler().handler } })
    const state = watch(rig.alice.request('slow', [], { deadlineMs: 500 }))
    await vi.advanceTimersByTimeAsync(500)
    expectFailure(state, 'timeout')
    const request = rig.sent('alice', 'request')[0]?.meta
    if (request?.type !== 'request') throw new Error('no request on the wire')
    rig.alice.receive({ meta: { type: 'response', requestId: request.requestId }, frames: [] })
    rig.alice.receive({
      meta: { type: 'error', requestId: request.requestId, code: 'internal', message: 'late' },
      frames: [],
    })
    await vi.advanceTimersByTimeAsync(1_000)
    expect(state.outcomes).toHaveLength(1)
    expectFailure(state, 'timeout')
    expect(rig.alice.pendingCount).toBe(0)
  })

  it('aborts the responder at its own deadline when the cancel is lost', async () => {
    const stall = stallingHandler()
    const rig = connect({ bob: { slow: stall.handler } })
    rig.dropWhen((entry) => entry.meta.type === 'cancel')
    const state = watch(rig.alice.request('slow', [], { deadlineMs: 300 }))
    await vi.advanceTimersByTimeAsync(300)
    expectFailure(state, 'timeout')
    expect(abortCode(stall.seen[0])).toBe('timeout')
  })

  it('cancels through an AbortSignal: outcome cancelled, responder aborted, no answer', async () => {
    const seen: IncomingRequest[] = []
    let finish: () => void = () => {}
    const rig = connect({
      bob: {
        // Ignores its signal and answers anyway once let go.
        stubborn: (request) => {
          seen.push(request)
          return new Promise((resolve) => {
            finish = () => resolve({ frames: [] })
          })
        },
      },
    })
    const controller = new AbortController()
    const state = watch(
      rig.alice.request('stubborn', [], { deadlineMs: 1_000, signal: controller.signal }),
    )
    await vi.advanceTimersByTimeAsync(10)
    expect(seen).toHaveLength(1)

    controller.abort()
    await vi.advanceTimersByTimeAsync(0)
    expectFailure(state, 'cancelled', /stubborn/)
    expect(rig.alice.pendingCount).toBe(0)
    expect(abortCode(seen[0])).toBe('cancelled')

    finish()
    await vi.advanceTimersByTimeAsync(2_000)
    expect(rig.sent('bob', 'response')).toEqual([])
    expect(state.outcomes).toHaveLength(1)
  })

  it('fails at once, sending nothing, when the signal is already aborted', async () => {
    const rig = connect({ bob: { echo: async () => ({ frames: [] }) } })
    const state = watch(
      rig.alice.request('echo', [], { deadlineMs: 1_000, signal: AbortSignal.abort() }),
    )
    await vi.advanceTimersByTimeAsync(0)
    expectFailure(state, 'cancelled')
    expect(rig.wire).toEqual([])
  })

  it('close() fails every pending request with its error and later requests at once', async () => {
    const rig = connect({ bob: { slow: stallingHandler().handler } })
    const first = watch(rig.alice.request('slow', [], { deadlineMs: 1_000 }))
    const second = watch(rig.alice.request('slow', [], { deadlineMs: 5_000 }))
    await vi.advanceTimersByTimeAsync(10)
    expect(rig.alice.pendingCount).toBe(2)

    rig.alice.close(new CohortError('peer-gone', 'bob left'))
    await vi.advanceTimersByTimeAsync(0)
    expectFailure(first, 'peer-gone', /bob left/)
    expectFailure(second, 'peer-gone', /bob left/)
    expect(rig.alice.pendingCount).toBe(0)

    const later = watch(rig.alice.request('slow', [], { deadlineMs: 1_000 }))
    await vi.advanceTimersByTimeAsync(0)
    expectFailure(later, 'peer-gone')
    // Deadlines were cleared with the requests: nothing fires twice.
    await vi.advanceTimersByTimeAsync(10_000)
    expect(first.outcomes).toHaveLength(1)
    expect(second.outcomes).toHaveLength(1)
  })

  it('close() aborts running handlers, which then answer nothing', async () => {
    const stall = stallingHandler()
    const rig = connect({ bob: { slow: stall.handler } })
    const state = watch(rig.alice.request('slow', [], { deadlineMs: 1_000 }))
    await vi.advanceTimersByTimeAsync(10)
    rig.bob.close(new CohortError('peer-gone', 'alice left'))
    expect(abortCode(stall.seen[0])).toBe('peer-gone')
    await vi.advanceTimersByTimeAsync(0)
    expect(rig.sent('bob', 'error')).toEqual([])
    // Alice hears nothing and gets her own timeout.
    await vi.advanceTimersByTimeAsync(1_000)
    expectFailure(state, 'timeout')
  })

  it('fails with peer-gone when the link refuses the request', async () => {
    const rig = connect({ bob: { echo: async () => ({ frames: [] }) } })
    rig.takeLinkDown()
    const state = watch(rig.alice.request('echo', [], { deadlineMs: 1_000 }))
    await vi.advanceTimersByTimeAsync(0)
    expectFailure(state, 'peer-gone', /link is down/)
    expect(rig.alice.pendingCount).toBe(0)
  })

  it('resolves with bad-frame, never rejects, when a request cannot be encoded', async () => {
    const rig = connect({ bob: { echo: async () => ({ frames: [] }) } })
    const state = watch(
      rig.alice.request(
        'echo',
        [{ name: 'x', dtype: 'int32', dims: [4], data: new Int32Array(3) }],
        { deadlineMs: 1_000 },
      ),
    )
    await vi.advanceTimersByTimeAsync(0)
    expectFailure(state, 'bad-frame')
    expect(rig.alice.pendingCount).toBe(0)
    await vi.advanceTimersByTimeAsync(2_000)
    expect(state.outcomes).toHaveLength(1)
    expect(rig.wire).toEqual([])
  })

  it('keeps concurrent requests apart by request id', async () => {
    const rig = connect({
      bob: {
        delay: async (request) => {
          const ms = Number((request.payload as { ms: number }).ms)
          await new Promise((resolve) => setTimeout(resolve, ms))
          return { frames: [], timings: { ms } }
        },
      },
    })
    const states = [300, 100, 200].map((ms) =>
      watch(rig.alice.request('delay', [], { deadlineMs: 1_000, payload: { ms } })),
    )
    await vi.advanceTimersByTimeAsync(300)
    const timings = states.map((state) => {
      const [outcome] = state.outcomes
      if (!outcome?.ok) throw new Error('expected a reply')
      return [outcome.value.timings.ms, outcome.value.roundTripMs]
    })
    expect(timings).toEqual([
      [300, 300],
      [100, 100],
      [200, 200],
    ])
  })
})
