import type { Mesh, RpcReply } from '@cohort/mesh'
import {
  CohortError,
  type DeviceId,
  err,
  ok,
  type Plan,
  type Result,
  RUN_MODEL_METHOD,
} from '@cohort/protocol'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { DEFAULT_WINDOW, type Outcome, Requester, type RequesterMesh } from './requester.ts'
import { fakeManifest, fakePlan, fakeRunner } from './testing/early-exit-fakes.ts'

// A room of one fake device serving the fake task's teacher: an input's first value is the class
// it answers, its second the ms the answer takes (fake clock). Single mode keeps the stream's
// behaviour apart from the ensemble's and early exit's, which have tests of their own.
const manifest = fakeManifest()
const DEVICE = 'dev-cloud' as DeviceId
const INPUT_LENGTH = 4

function sample(label: number, ms: number): Float32Array {
  return Float32Array.from([label, ms, 0, 0])
}

function fakeMesh(plan: Plan | null = fakePlan(['dev-edge'], [DEVICE])) {
  let running = 0
  const stats = { started: 0, cancelled: 0, maxRunning: 0 }
  const request: Mesh['request'] = (deviceId, method, tensors, options) => {
    expect(method).toBe(RUN_MODEL_METHOD)
    const input = tensors[0]?.data as Float32Array
    stats.started++
    running++
    stats.maxRunning = Math.max(stats.maxRunning, running)
    return new Promise<Result<RpcReply, CohortError>>((resolve) => {
      let done = false
      const finish = (outcome: Result<RpcReply, CohortError>) => {
        if (done) return
        done = true
        running--
        clearTimeout(timer)
        resolve(outcome)
      }
      const timer = setTimeout(() => {
        const logits = new Float32Array(10)
        logits[input[0] ?? 0] = 1
        finish(
          ok({
            frames: [
              {
                kind: 'response',
                requestId: `r-${deviceId}`,
                name: 'logits',
                dtype: 'float32',
                dims: [1, 10],
                data: logits,
              },
            ],
            timings: { computeMs: 1 },
            payload: undefined,
            roundTripMs: input[1] ?? 0,
          }),
        )
      }, input[1] ?? 0)
      options.signal?.addEventListener('abort', () => {
        if (!done) stats.cancelled++
        finish(err(new CohortError('cancelled', 'cancelled')))
      })
    })
  }
  const mesh: RequesterMesh = { request, plan, peers: () => [], whenAnyOpens: async () => false }
  return { mesh, stats }
}

function requester(mesh: RequesterMesh) {
  return new Requester({ mesh, runner: fakeRunner(), manifest, now: () => Date.now() })
}

async function collect(outcomes: AsyncIterable<Outcome>): Promise<Outcome[]> {
  const all: Outcome[] = []
  for await (const outcome of outcomes) all.push(outcome)
  return all
}

const predictions = (outcomes: readonly Outcome[]) =>
  outcomes.map((outcome) => (outcome.ok ? outcome.value.prediction : outcome.error.code))

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

describe('Requester.infer', () => {
  test('single mode goes to the plan’s strongest device with the teacher and says who answered', async () => {
    const { mesh } = fakeMesh()
    const outcome = requester(mesh).infer(sample(7, 5), { mode: 'single' })
    await vi.advanceTimersByTimeAsync(5)
    const answer = await outcome
    expect(answer.ok && answer.value).toMatchObject({
      mode: 'single',
      prediction: 7,
      deviceId: DEVICE,
    })
  })

  test('many requests at once each get their own answer', async () => {
    const { mesh, stats } = fakeMesh()
    const cohort = requester(mesh)
    const outcomes = Promise.all(
      [3, 1, 4, 1, 5, 9, 2, 6].map((label, i) =>
        cohort.infer(sample(label, 40 - i * 5), { mode: 'single' }),
      ),
    )
    expect(cohort.inFlight).toBe(8)
    await vi.advanceTimersByTimeAsync(40)
    expect(predictions(await outcomes)).toEqual([3, 1, 4, 1, 5, 9, 2, 6])
    expect(stats.maxRunning).toBe(8)
    expect(cohort.inFlight).toBe(0)
  })

  test('a wrong-sized input, no plan and a K the room does not plan are typed errors', async () => {
    const { mesh } = fakeMesh(null)
    const cohort = requester(mesh)
    const short = await cohort.infer(new Float32Array(INPUT_LENGTH - 1), { mode: 'single' })
    expect(!short.ok && short.error.code).toBe('bad-input')
    const noPlan = await cohort.infer(sample(1, 1), { mode: 'single' })
    expect(!noPlan.ok && noPlan.error.code).toBe('no-plan')
    const planned = fakeMesh()
    const withEnsemble: Plan = {
      ...fakePlan(['dev-edge'], [DEVICE]),
      ensemble: { k: 2 } as Plan['ensemble'],
    }
    const otherK = await requester({ ...planned.mesh, plan: withEnsemble }).infer(sample(1, 1), {
      mode: 'ensemble',
      k: 3,
    })
    expect(!otherK.ok && otherK.error).toMatchObject({ code: 'no-plan' })
    expect(!otherK.ok && otherK.error.message).toContain('K=3')
  })
})

describe('Requester.stream', () => {
  test('keeps at most `window` in flight and yields in input order, whatever order answers come in', async () => {
    const { mesh, stats } = fakeMesh()
    const labels = Array.from({ length: 30 }, (_, i) => i % 10)
    // Later inputs answer sooner, so answers arrive out of order within each window.
    const inputs = labels.map((label, i) => sample(label, 5 + ((30 - i) % 7) * 3))
    const done = collect(requester(mesh).stream(inputs, { mode: 'single', window: 4 }))
    await vi.runAllTimersAsync()
    expect(predictions(await done)).toEqual(labels)
    expect(stats.maxRunning).toBe(4)
    expect(stats.started).toBe(30)
  })

  test('backpressure: while the consumer holds an outcome, no new request starts', async () => {
    const { mesh, stats } = fakeMesh()
    const inputs = Array.from({ length: 10 }, (_, i) => sample(i, 1))
    const stream = requester(mesh).stream(inputs, { mode: 'single', window: 3 })
    const first = stream.next()
    await vi.advanceTimersByTimeAsync(5)
    expect((await first).value).toMatchObject({ ok: true })
    // The consumer has not asked for more: the window is refilled only to its bound, once.
    await vi.advanceTimersByTimeAsync(100)
    expect(stats.started).toBe(3)
    const second = stream.next()
    await vi.advanceTimersByTimeAsync(5)
    await second
    expect(stats.started).toBe(4)
    await stream.return()
  })

  test('stopping early cancels the requests in flight and ends the input iterator', async () => {
    const { mesh, stats } = fakeMesh()
    let finished = false
    function* inputs() {
      try {
        for (let i = 0; ; i++) yield sample(i % 10, 10 + i)
      } finally {
        finished = true
      }
    }
    const stream = requester(mesh).stream(inputs(), { mode: 'single', window: 5 })
    const first = stream.next()
    await vi.advanceTimersByTimeAsync(10)
    expect((await first).value).toMatchObject({ ok: true })
    await stream.return()
    expect(stats.cancelled).toBe(4)
    expect(finished).toBe(true)
  })

  test('the caller’s signal cancels the whole stream; every input still gets exactly one outcome', async () => {
    const { mesh } = fakeMesh()
    const stop = new AbortController()
    const inputs = Array.from({ length: 8 }, (_, i) => sample(i, 50))
    const done = collect(
      requester(mesh).stream(inputs, { mode: 'single', window: 8, signal: stop.signal }),
    )
    await vi.advanceTimersByTimeAsync(10)
    stop.abort()
    await vi.runAllTimersAsync()
    const outcomes = await done
    expect(outcomes).toHaveLength(8)
    expect(predictions(outcomes)).toEqual(Array.from({ length: 8 }, () => 'cancelled'))
  })

  test('a source that waits for answers before giving the next input is not held up', async () => {
    const { mesh } = fakeMesh()
    const cohort = requester(mesh)
    // Interactive: the next input comes only once the previous outcome was consumed.
    let consumed = 0
    let wake: (() => void) | null = null
    async function* inputs() {
      for (let i = 0; i < 3; i++) {
        while (consumed < i) await new Promise<void>((resolve) => (wake = resolve))
        yield sample(i, 5)
      }
    }
    const seen: Outcome[] = []
    const done = (async () => {
      for await (const outcome of cohort.stream(inputs(), { mode: 'single', window: 8 })) {
        seen.push(outcome)
        consumed++
        ;(wake as (() => void) | null)?.()
      }
    })()
    await vi.runAllTimersAsync()
    await done
    expect(predictions(seen)).toEqual([0, 1, 2])
  })

  test('a source that throws: what was started is answered first, then its error is thrown', async () => {
    const { mesh } = fakeMesh()
    function* inputs() {
      yield sample(1, 5)
      yield sample(2, 5)
      throw new Error('camera unplugged')
    }
    const seen: Outcome[] = []
    const done = (async () => {
      for await (const outcome of requester(mesh).stream(inputs(), { mode: 'single', window: 4 }))
        seen.push(outcome)
    })()
    const failed = expect(done).rejects.toThrow('camera unplugged')
    await vi.runAllTimersAsync()
    await failed
    expect(predictions(seen)).toEqual([1, 2])
  })

  test('a window that is not a number is the default, not zero', async () => {
    const { mesh, stats } = fakeMesh()
    const inputs = Array.from({ length: 10 }, (_, i) => sample(i, 5))
    const done = collect(requester(mesh).stream(inputs, { mode: 'single', window: Number.NaN }))
    await vi.runAllTimersAsync()
    expect(predictions(await done)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(stats.maxRunning).toBe(DEFAULT_WINDOW)
  })

  test('an async input source works too, and the window is clamped to at least one', async () => {
    const { mesh, stats } = fakeMesh()
    async function* inputs() {
      for (let i = 0; i < 5; i++) yield sample(i, 2)
    }
    const done = collect(requester(mesh).stream(inputs(), { mode: 'single', window: 0 }))
    await vi.runAllTimersAsync()
    expect(predictions(await done)).toEqual([0, 1, 2, 3, 4])
    expect(stats.maxRunning).toBe(1)
  })
})
