import type { Mesh, RpcReply } from '@cohort/mesh'
import {
  CohortError,
  type DeviceId,
  type Ensemble,
  err,
  type Manifest,
  type ModelEntry,
  ok,
  type Plan,
  type Result,
  RUN_MODEL_METHOD,
} from '@cohort/protocol'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { argmax, type EnsembleRequestOptions, inferEnsemble } from './ensemble-requester.ts'
import type { ModelRunner } from './model-runner.ts'
import { OutcomeTracker } from './outcome-tracker.ts'
import { fakeManifest } from './testing/early-exit-fakes.ts'
import { plannedDevices } from './testing/planned-devices.ts'

// A task with a K=2 set (two 4-wide slices and a combiner) on the early-exit fake's task; the
// devices and the combiner are fakes, the clock is fake.
const SLICE = 4
const base = fakeManifest()
const entry = (
  id: string,
  role: ModelEntry['role'],
  inputs: ModelEntry['inputs'],
  output: string,
) => ({
  ...(base.models[0] as ModelEntry),
  id,
  role,
  inputs,
  outputs: [{ name: output, dtype: 'float32' as const, shape: ['batch' as const, SLICE] }],
})
const SET: Ensemble = {
  k: 2,
  students: ['student-2-0', 'student-2-1'],
  combiner: 'combiner-2',
  sliceSizes: [SLICE, SLICE],
  sliceOffsets: [0, SLICE],
  imputationMeans: [
    [0.5, 0.5, 0.5, 0.5],
    [0.25, 0.75, 0.25, 0.75],
  ],
  accuracy: { test: 90, sample: 90 },
  missing: [],
}
const manifest: Manifest = {
  ...base,
  models: [
    ...base.models,
    ...SET.students.map((id, index) =>
      entry(id, { kind: 'student', index, of: 2 }, [base.input], 'slice'),
    ),
    entry(
      SET.combiner,
      { kind: 'combiner', of: 2 },
      [0, 1].map((slice) => ({
        name: `slice_${slice}`,
        dtype: 'float32' as const,
        shape: ['batch' as const, SLICE],
      })),
      'logits',
    ),
  ],
  ensembles: [SET],
}

const A = 'dev-a' as DeviceId
const B = 'dev-b' as DeviceId
const C = 'dev-c' as DeviceId
const D = 'dev-d' as DeviceId

function planOf(groups: readonly (readonly DeviceId[])[], predictedMs = 10, fanout?: number): Plan {
  return {
    version: 3,
    task: manifest.task,
    createdAt: 0,
    models: [],
    devices: plannedDevices(groups.flat()),
    earlyExit: null,
    ensemble: {
      k: 2,
      combiner: SET.combiner,
      groups: groups.map((members, slice) => ({
        slice,
        student: SET.students[slice] ?? '',
        members: [...members],
        predictedMs,
        failureProbability: 0,
        fanout: fanout ?? members.length,
      })),
      predictedLatencyMs: predictedMs,
      capacityRps: 1_000,
      bottleneckSlice: 0,
      resilienceTarget: 0.99,
      resilienceMet: true,
      candidates: [],
      pinnedK: null,
      explanation: [],
    },
  }
}

/** What one device does with a run-model request: answer a slice after `ms`, or fail. */
type Behaviour = { ms: number; fill?: number; fail?: CohortError } | 'silent'

/** A room of fake devices behind `Mesh['request']`, recording who was asked and who cancelled. */
function room(behaviour: Partial<Record<DeviceId, Behaviour>>) {
  const asked: { deviceId: DeviceId; student: unknown; at: number }[] = []
  const cancelled: DeviceId[] = []
  const t0 = Date.now()
  const request: Mesh['request'] = (deviceId, method, tensors, options) => {
    expect(method).toBe(RUN_MODEL_METHOD)
    expect(tensors[0]?.name).toBe(manifest.input.name)
    asked.push({
      deviceId,
      student: (options.payload as { model?: unknown } | undefined)?.model,
      at: Date.now() - t0,
    })
    const does = behaviour[deviceId] ?? 'silent'
    return new Promise<Result<RpcReply, CohortError>>((resolve) => {
      let done = false
      const finish = (outcome: Result<RpcReply, CohortError>) => {
        if (done) return
        done = true
        clearTimeout(answerTimer)
        clearTimeout(deadlineTimer)
        resolve(outcome)
      }
      const answerTimer =
        does === 'silent'
          ? undefined
          : setTimeout(() => {
              if (does.fail) return finish(err(does.fail))
              const slice = Float32Array.from({ length: SLICE }, () => does.fill ?? 1)
              finish(
                ok({
                  frames: [
                    {
                      kind: 'response',
                      requestId: 'r',
                      name: 'slice',
                      dtype: 'float32',
                      dims: [1, SLICE],
                      data: slice,
                    },
                  ],
                  timings: { computeMs: 2 },
                  payload: undefined,
                  roundTripMs: does.ms,
                }),
              )
            }, does.ms)
      const deadlineTimer = setTimeout(
        () => finish(err(new CohortError('timeout', 'deadline'))),
        options.deadlineMs,
      )
      options.signal?.addEventListener('abort', () => {
        if (!done) cancelled.push(deviceId)
        finish(err(new CohortError('cancelled', 'cancelled')))
      })
    })
  }
  return { request, asked, cancelled }
}

/** A combiner that sums each slice's first value into a logit, so tests can tell slices apart. */
const combiner: ModelRunner = {
  run: async (_id, inputs) => {
    const logits = new Float32Array(10)
    logits[0] = inputs.slice_0?.data[0] ?? 0
    logits[1] = inputs.slice_1?.data[0] ?? 0
    return {
      outputs: { logits: { data: logits, dims: [1, 10] } },
      timings: { runMs: 0, queuedMs: 0 },
    }
  },
}

function infer(
  fakes: ReturnType<typeof room>,
  plan: Plan,
  options: Partial<EnsembleRequestOptions> = {},
  tracker = new OutcomeTracker(),
) {
  const input = new Float32Array(64)
  return inferEnsemble(
    { request: fakes.request, combiner, manifest, tracker, now: () => Date.now() },
    plan,
    input,
    { redundancy: 'all', deadlineMs: 1_000, ...options },
  )
}

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

describe('inferEnsemble', () => {
  test('all: every member is asked at once; the first per group wins and the losers are cancelled', async () => {
    const fakes = room({
      [A]: { ms: 30, fill: 1 },
      [B]: { ms: 10, fill: 2 },
      [C]: { ms: 5, fill: 3 },
      [D]: { ms: 50, fill: 4 },
    })
    const tracker = new OutcomeTracker()
    const outcome = infer(
      fakes,
      planOf([
        [A, B],
        [C, D],
      ]),
      {},
      tracker,
    )
    await vi.advanceTimersByTimeAsync(10)
    const answer = await outcome
    if (!answer.ok) throw answer.error
    expect(fakes.asked.map((x) => [x.deviceId, x.student])).toEqual([
      [A, SET.students[0]],
      [B, SET.students[0]],
      [C, SET.students[1]],
      [D, SET.students[1]],
    ])
    expect(answer.value.winners.map((w) => [w.slice, w.deviceId, w.ms, w.computeMs])).toEqual([
      [0, B, 10, 2],
      [1, C, 5, 2],
    ])
    expect(answer.value.degraded).toBe(false)
    expect([...answer.value.logits.slice(0, 2)]).toEqual([2, 3])
    expect(answer.value.prediction).toBe(1)
    expect(answer.value.k).toBe(2)
    expect(answer.value.planVersion).toBe(3)
    expect(fakes.cancelled.sort()).toEqual([A, D])
    // The cancelled losers are no misses; the winners each served one.
    expect(tracker.drain().filter((outcome) => outcome.misses > 0)).toEqual([])
    expect(tracker.servedCounts()).toEqual(
      new Map([
        [B, 1],
        [C, 1],
      ]),
    )
  })

  test('all, in a group larger than its fanout: the fanout is asked at once, the others only once they are late', async () => {
    const E = 'dev-e' as DeviceId
    const fakes = room({
      [A]: { ms: 100, fill: 1 },
      [B]: { ms: 100, fill: 2 },
      [C]: { ms: 5, fill: 3 },
      [D]: { ms: 5, fill: 4 },
      [E]: { ms: 3 },
    })
    // Fanout 2: A and B at once; C when they are late (twice the predicted 10 ms), then D.
    const outcome = infer(fakes, planOf([[A, B, C, D], [E]], 10, 2), {})
    await vi.advanceTimersByTimeAsync(19)
    expect(fakes.asked.map((x) => x.deviceId)).toEqual([A, B, E])
    await vi.advanceTimersByTimeAsync(1)
    expect(fakes.asked.map((x) => x.deviceId)).toEqual([A, B, E, C])
    await vi.advanceTimersByTimeAsync(5)
    const answer = await outcome
    if (!answer.ok) throw answer.error
    expect(answer.value.winners.map((w) => w.deviceId)).toEqual([C, E])
    // D was never asked: C answered before its turn.
    expect(fakes.asked.map((x) => x.deviceId)).not.toContain(D)
    expect(fakes.cancelled.sort()).toEqual([A, B])
  })

  test('hedged: the second member is asked only once the first is late, after the predicted delay', async () => {
    const fakes = room({ [A]: { ms: 100, fill: 1 }, [B]: { ms: 5, fill: 2 }, [C]: { ms: 3 } })
    // No history yet: the hedge waits twice the predicted 10 ms.
    const outcome = infer(fakes, planOf([[A, B], [C]]), { redundancy: 'hedged' })
    await vi.advanceTimersByTimeAsync(19)
    expect(fakes.asked.map((x) => x.deviceId)).toEqual([A, C])
    await vi.advanceTimersByTimeAsync(1)
    expect(fakes.asked.map((x) => x.deviceId)).toEqual([A, C, B])
    await vi.advanceTimersByTimeAsync(5)
    const answer = await outcome
    if (!answer.ok) throw answer.error
    expect(answer.value.winners.map((w) => w.deviceId)).toEqual([B, C])
    expect(answer.value.latencyMs).toBe(25)
    expect(fakes.cancelled).toEqual([A])
  })

  test('hedged, behind members with a slow history that never answer: each hedge waits at most a quarter of the time left', async () => {
    const [S1, S2, S3] = ['dev-s1' as DeviceId, 'dev-s2' as DeviceId, 'dev-s3' as DeviceId] as const
    const fakes = room({
      [S1]: 'silent',
      [S2]: 'silent',
      [S3]: 'silent',
      [B]: { ms: 5 },
      [C]: { ms: 1 },
    })
    const tracker = new OutcomeTracker()
    // Their history says 900 ms at p95 (answers during a loaded join); now they are dead.
    for (const id of [S1, S2, S3]) for (let i = 0; i < 20; i++) tracker.answered(id, 900)
    const outcome = infer(fakes, planOf([[S1, S2, S3, B], [C]]), { redundancy: 'hedged' }, tracker)
    await vi.advanceTimersByTimeAsync(1_000)
    const answer = await outcome
    if (!answer.ok) throw answer.error
    // 1000 ms deadline: S2 at 250 (a quarter of 1000), S3 ~187 ms later, B ~140 ms after that.
    expect(fakes.asked.map((x) => [x.deviceId, x.at])).toEqual([
      [S1, 0],
      [C, 0],
      [S2, 250],
      [S3, 437],
      [B, 577],
    ])
    expect(answer.value.winners.map((w) => w.deviceId)).toEqual([B, C])
    expect(answer.value.degraded).toBe(false)
  })

  test('hedged: a failing member is followed at once and counts as a miss', async () => {
    const fakes = room({
      [A]: { ms: 2, fail: new CohortError('not-loaded', 'not yet') },
      [B]: { ms: 4 },
      [C]: { ms: 1 },
    })
    const tracker = new OutcomeTracker()
    const outcome = infer(fakes, planOf([[A, B], [C]]), { redundancy: 'hedged' }, tracker)
    await vi.advanceTimersByTimeAsync(6)
    const answer = await outcome
    if (!answer.ok) throw answer.error
    expect(fakes.asked.map((x) => [x.deviceId, x.at])).toEqual([
      [A, 0],
      [C, 0],
      [B, 2],
    ])
    expect(answer.value.winners.map((w) => w.deviceId)).toEqual([B, C])
    expect(tracker.drain()).toContainEqual({ deviceId: A, requests: 1, misses: 1 })
  })

  test('a group that misses the deadline is imputed with its training mean and named', async () => {
    const fakes = room({ [A]: { ms: 5, fill: 7 }, [C]: 'silent', [D]: 'silent' })
    const tracker = new OutcomeTracker()
    const outcome = infer(fakes, planOf([[A], [C, D]]), { deadlineMs: 40 }, tracker)
    await vi.advanceTimersByTimeAsync(40)
    const answer = await outcome
    if (!answer.ok) throw answer.error
    expect(answer.value.degraded).toBe(true)
    expect(answer.value.missingSlices).toEqual([1])
    expect(answer.value.winners.map((w) => w.slice)).toEqual([0])
    expect([...(answer.value.slices[1] ?? [])]).toEqual([
      ...Float32Array.from(SET.imputationMeans[1] ?? []),
    ])
    expect(answer.value.logits[1]).toBeCloseTo(SET.imputationMeans[1]?.[0] ?? Number.NaN, 5)
    // Members cut off by the deadline are misses (the planner's failure evidence).
    expect(tracker.drain()).toEqual(
      expect.arrayContaining([
        { deviceId: C, requests: 1, misses: 1 },
        { deviceId: D, requests: 1, misses: 1 },
      ]),
    )
  })

  test('no group answering is a typed timeout, not an answer', async () => {
    const fakes = room({})
    const outcome = infer(fakes, planOf([[A], [B]]), { deadlineMs: 30 })
    await vi.advanceTimersByTimeAsync(30)
    const answer = await outcome
    expect(answer.ok).toBe(false)
    if (!answer.ok) expect(answer.error.code).toBe('timeout')
  })

  test('every member unreachable at once: not-connected at once, or asked again when a link comes back', async () => {
    const down = new CohortError('not-connected', 'no open link')
    const unreachable = { [A]: { ms: 0, fail: down }, [B]: { ms: 0, fail: down } }
    const alone = infer(room(unreachable), planOf([[A], [B]]), { deadlineMs: 1_000 })
    await vi.advanceTimersByTimeAsync(1)
    const failed = await alone
    expect(failed.ok).toBe(false)
    if (!failed.ok) expect(failed.error.code).toBe('not-connected')

    // With the mesh's word on links: A's link opens after 300 ms and A answers then.
    const behaviour: Partial<Record<DeviceId, Behaviour>> = { ...unreachable }
    const fakes = room(behaviour)
    const whenReachable = (members: readonly DeviceId[], signal: AbortSignal) =>
      new Promise<boolean>((resolve) => {
        signal.addEventListener('abort', () => resolve(false))
        if (!members.includes(A)) return // B never comes back
        setTimeout(() => {
          behaviour[A] = { ms: 5, fill: 7 }
          resolve(true)
        }, 300)
      })
    const outcome = inferEnsemble(
      {
        request: fakes.request,
        combiner,
        manifest,
        tracker: new OutcomeTracker(),
        now: () => Date.now(),
        whenReachable,
      },
      planOf([[A], [B]]),
      new Float32Array(64),
      { redundancy: 'all', deadlineMs: 1_000 },
    )
    await vi.advanceTimersByTimeAsync(1_000)
    const answer = await outcome
    if (!answer.ok) throw answer.error
    // A answered after it came back; B never did, so its slice is imputed and the answer says so.
    expect(answer.value.winners.map((w) => [w.deviceId, w.slice])).toEqual([[A, 0]])
    expect(answer.value.missingSlices).toEqual([1])
    expect(fakes.asked.filter((x) => x.deviceId === A).map((x) => x.at)).toEqual([0, 300])
  })

  test('no ensemble plan, or a K the task does not ship, is no-plan', async () => {
    const fakes = room({})
    const none = await infer(fakes, { ...planOf([[A]]), ensemble: null })
    expect(none.ok ? null : none.error.code).toBe('no-plan')
    const plan = planOf([[A], [B]])
    const badK = await infer(fakes, {
      ...plan,
      ensemble: plan.ensemble ? { ...plan.ensemble, k: 9 } : null,
    })
    expect(badK.ok ? null : badK.error.code).toBe('no-plan')
    expect(fakes.asked).toEqual([])
  })

  test('many requests in flight: cancelling one ends it alone, the others answer', async () => {
    const fakes = room({ [A]: { ms: 20, fill: 1 }, [B]: { ms: 10, fill: 2 } })
    const plan = planOf([[A], [B]])
    const stop = new AbortController()
    const outcomes = Array.from({ length: 8 }, (_, i) =>
      infer(fakes, plan, i === 3 ? { signal: stop.signal } : {}),
    )
    await vi.advanceTimersByTimeAsync(5)
    stop.abort()
    await vi.advanceTimersByTimeAsync(20)
    const answers = await Promise.all(outcomes)
    answers.forEach((answer, i) => {
      if (i === 3) expect(answer.ok ? 'answered' : answer.error.code).toBe('cancelled')
      else {
        if (!answer.ok) throw answer.error
        expect(answer.value.degraded).toBe(false)
        expect(answer.value.prediction).toBe(argmax([1, 2]))
      }
    })
    expect(fakes.cancelled).toEqual([A, B])
  })

  test('requests in flight spread over a group’s members (fewest outstanding first); an idle requester asks the best', async () => {
    const E = 'dev-e' as DeviceId
    const F = 'dev-f' as DeviceId
    const G = 'dev-g' as DeviceId
    const H = 'dev-h' as DeviceId
    const group = [A, B, C, D, E, F] as const
    const fakes = room(
      Object.fromEntries([...group, G, H].map((id) => [id, { ms: 10 }])) as Record<
        DeviceId,
        Behaviour
      >,
    )
    // Fanout 2 in a group of six: three requests at once ask three different pairs.
    const plan = planOf([group, [G, H]], 10, 2)
    const tracker = new OutcomeTracker()
    const three = Array.from({ length: 3 }, () => infer(fakes, plan, {}, tracker))
    const firstSlice = () =>
      fakes.asked.filter((x) => x.student === SET.students[0]).map((x) => x.deviceId)
    expect(firstSlice()).toEqual([A, B, C, D, E, F])
    await vi.advanceTimersByTimeAsync(10)
    for (const answer of await Promise.all(three)) expect(answer.ok).toBe(true)
    expect(group.map((id) => tracker.inFlight(id))).toEqual([0, 0, 0, 0, 0, 0])
    // Idle again: the next request goes to the plan's best two.
    fakes.asked.length = 0
    const next = infer(fakes, plan, {}, tracker)
    await vi.advanceTimersByTimeAsync(10)
    expect((await next).ok).toBe(true)
    expect(firstSlice()).toEqual([A, B])
  })
})
