import { CohortError, type DeviceId, err, ok, type Result } from '@cohort/protocol'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { firstAnswer, type RaceOptions } from './first-answer.ts'

const A = 'dev-a' as DeviceId
const B = 'dev-b' as DeviceId
const C = 'dev-c' as DeviceId

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

/** A member that answers (or fails) after `ms` of fake time, unless the race cancels it first. */
interface Scripted {
  readonly ms: number
  readonly answer: Result<string, CohortError | string>
}

/** Runs a race over scripted members and records who was asked when, and who was cancelled. */
function race(
  script: Partial<Record<DeviceId, Scripted>>,
  options: Partial<RaceOptions<string>> & { members: readonly DeviceId[] },
) {
  const asked: { deviceId: DeviceId; at: number }[] = []
  const cancelled: DeviceId[] = []
  const misses: [DeviceId, string][] = []
  const stop = new AbortController()
  const start = Date.now()
  const outcome = firstAnswer<string>({
    staggerMs: () => 0,
    windowIsMiss: false,
    signal: stop.signal,
    onMiss: (deviceId, why) => misses.push([deviceId, why]),
    attempt: (deviceId, _member, signal) => {
      asked.push({ deviceId, at: Date.now() - start })
      const step = script[deviceId]
      return new Promise((resolve) => {
        // A member that never answers on its own (no script) is only ever cancelled.
        let answered = false
        const timer = step
          ? setTimeout(() => {
              answered = true
              resolve(step.answer)
            }, step.ms)
          : undefined
        signal.addEventListener('abort', () => {
          if (answered) return
          clearTimeout(timer)
          cancelled.push(deviceId)
          resolve(err(new CohortError('cancelled', 'lost the race')))
        })
      })
    },
    ...options,
  })
  let settled: Awaited<typeof outcome> | 'pending' = 'pending'
  let settledCount = 0
  void outcome.then((value) => {
    settled = value
    settledCount++
  })
  return {
    asked,
    cancelled,
    misses,
    stop,
    get outcome() {
      return settled
    },
    get settledCount() {
      return settledCount
    },
  }
}

describe('firstAnswer', () => {
  test('all at once: the fastest answer wins and the others are cancelled', async () => {
    const r = race(
      {
        [A]: { ms: 30, answer: ok('a') },
        [B]: { ms: 10, answer: ok('b') },
        [C]: { ms: 20, answer: ok('c') },
      },
      { members: [A, B, C] },
    )
    await vi.advanceTimersByTimeAsync(0)
    expect(r.asked.map((x) => x.at)).toEqual([0, 0, 0])
    await vi.advanceTimersByTimeAsync(10)
    expect(r.outcome).toEqual({
      winner: { value: 'b', deviceId: B, member: 1 },
      sent: 3,
      failed: 0,
    })
    expect(r.cancelled.sort()).toEqual([A, C])
    expect(r.misses).toEqual([])
    await vi.advanceTimersByTimeAsync(100)
    expect(r.settledCount).toBe(1)
  })

  test('hedged: the next member is asked only after the delay, and the first answer still wins', async () => {
    const r = race(
      {
        [A]: { ms: 25, answer: ok('a') },
        [B]: { ms: 100, answer: ok('b') },
        [C]: { ms: 1, answer: ok('c') },
      },
      { members: [A, B, C], staggerMs: () => 20 },
    )
    await vi.advanceTimersByTimeAsync(19)
    expect(r.asked.map((x) => x.deviceId)).toEqual([A])
    await vi.advanceTimersByTimeAsync(1)
    expect(r.asked).toEqual([
      { deviceId: A, at: 0 },
      { deviceId: B, at: 20 },
    ])
    await vi.advanceTimersByTimeAsync(5)
    expect(r.outcome).toMatchObject({ winner: { value: 'a', deviceId: A }, sent: 2, failed: 0 })
    expect(r.cancelled).toEqual([B])
    // C was never asked: the hedge timer died with the race.
    await vi.advanceTimersByTimeAsync(100)
    expect(r.asked).toHaveLength(2)
  })

  test('hedged: a member that fails is followed at once, and counts as a miss', async () => {
    const r = race(
      { [A]: { ms: 3, answer: err('model not loaded') }, [B]: { ms: 4, answer: ok('b') } },
      { members: [A, B], staggerMs: () => 50 },
    )
    await vi.advanceTimersByTimeAsync(3)
    expect(r.asked).toEqual([
      { deviceId: A, at: 0 },
      { deviceId: B, at: 3 },
    ])
    expect(r.misses).toEqual([[A, 'model not loaded']])
    await vi.advanceTimersByTimeAsync(4)
    expect(r.outcome).toMatchObject({ winner: { deviceId: B, member: 1 }, sent: 2, failed: 1 })
  })

  test('every member failing ends the race with no winner, once', async () => {
    const r = race(
      {
        [A]: { ms: 5, answer: err(new CohortError('not-loaded', 'a not ready')) },
        [B]: { ms: 7, answer: err('b broke') },
      },
      { members: [A, B] },
    )
    await vi.advanceTimersByTimeAsync(7)
    expect(r.outcome).toEqual({ winner: null, sent: 2, failed: 2 })
    expect(r.misses).toEqual([
      [A, 'a not ready'],
      [B, 'b broke'],
    ])
    expect(r.settledCount).toBe(1)
  })

  test('the signal ends the race: members still working are cancelled, no miss is reported', async () => {
    const r = race({}, { members: [A, B] })
    await vi.advanceTimersByTimeAsync(1_000)
    expect(r.outcome).toBe('pending')
    r.stop.abort()
    await vi.advanceTimersByTimeAsync(0)
    expect(r.outcome).toEqual({ winner: null, sent: 2, failed: 0 })
    expect(r.cancelled.sort()).toEqual([A, B])
    expect(r.misses).toEqual([])
  })

  test('failover: a member past its window is given up and followed; its late answer still wins', async () => {
    const r = race(
      { [A]: { ms: 15, answer: ok('a') }, [B]: { ms: 100, answer: ok('b') } },
      { members: [A, B], staggerMs: () => 10, windowIsMiss: true },
    )
    await vi.advanceTimersByTimeAsync(10)
    expect(r.misses).toEqual([[A, 'no answer within 10 ms']])
    expect(r.asked.map((x) => x.deviceId)).toEqual([A, B])
    await vi.advanceTimersByTimeAsync(5)
    expect(r.outcome).toEqual({
      winner: { value: 'a', deviceId: A, member: 0 },
      sent: 2,
      failed: 1,
    })
    expect(r.cancelled).toEqual([B])
  })

  test('failover: when the last window passes too, the race ends with no winner', async () => {
    const r = race(
      {},
      { members: [A, B], staggerMs: (member) => (member === 0 ? 10 : 30), windowIsMiss: true },
    )
    await vi.advanceTimersByTimeAsync(39)
    expect(r.outcome).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    expect(r.outcome).toEqual({ winner: null, sent: 2, failed: 2 })
    expect(r.cancelled.sort()).toEqual([A, B])
  })

  test('an attempt that rejects counts as its member failing', async () => {
    const outcome = firstAnswer<string>({
      members: [A, B],
      staggerMs: () => 0,
      windowIsMiss: false,
      signal: new AbortController().signal,
      attempt: (deviceId) =>
        deviceId === A ? Promise.reject(new Error('bug')) : Promise.resolve(ok('b')),
    })
    expect(await outcome).toMatchObject({ winner: { deviceId: B }, failed: 1 })
  })

  test('no members, or a signal already aborted: no winner, nobody asked', async () => {
    const attempt = vi.fn()
    const stopped = new AbortController()
    stopped.abort()
    const base = { staggerMs: () => 0, windowIsMiss: false, attempt }
    expect(
      await firstAnswer({ ...base, members: [], signal: new AbortController().signal }),
    ).toEqual({ winner: null, sent: 0, failed: 0 })
    expect(await firstAnswer({ ...base, members: [A], signal: stopped.signal })).toEqual({
      winner: null,
      sent: 0,
      failed: 0,
    })
    expect(attempt).not.toHaveBeenCalled()
  })

  test('many races at once do not disturb each other', async () => {
    const races = Array.from({ length: 20 }, (_, i) =>
      race(
        { [A]: { ms: 5 + i, answer: ok(`a${i}`) }, [B]: { ms: 25 - i, answer: ok(`b${i}`) } },
        { members: [A, B] },
      ),
    )
    races[3]?.stop.abort()
    await vi.advanceTimersByTimeAsync(30)
    races.forEach((r, i) => {
      if (i === 3) expect(r.outcome).toMatchObject({ winner: null })
      else
        expect(r.outcome).toMatchObject({ winner: { value: 5 + i <= 25 - i ? `a${i}` : `b${i}` } })
      expect(r.settledCount).toBe(1)
    })
  })
})
