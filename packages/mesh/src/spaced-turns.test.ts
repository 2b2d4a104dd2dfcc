import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { spacedTurns } from './spaced-turns.ts'

describe('spacedTurns', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('lets the first go at once and each later one a gap after the one before, in order', async () => {
    const turn = spacedTurns(100, () => Date.now())
    const started: number[] = []
    const t0 = Date.now()
    const turns = [0, 1, 2, 3].map((i) => turn().then(() => started.push(i)))
    await Promise.resolve()
    expect(started).toEqual([0])
    await vi.advanceTimersByTimeAsync(99)
    expect(started).toEqual([0])
    await vi.advanceTimersByTimeAsync(1)
    expect(started).toEqual([0, 1])
    await vi.advanceTimersByTimeAsync(200)
    await Promise.all(turns)
    expect(started).toEqual([0, 1, 2, 3])
    expect(Date.now() - t0).toBe(300)
  })

  it('does not make a caller wait once the gap has passed', async () => {
    const turn = spacedTurns(100, () => Date.now())
    await turn()
    await vi.advanceTimersByTimeAsync(250)
    let went = false
    void turn().then(() => {
      went = true
    })
    await Promise.resolve()
    expect(went).toBe(true)
  })

  it('lets urgent callers go before the others waiting, each lane in order', async () => {
    const turn = spacedTurns(100, () => Date.now())
    const started: string[] = []
    const turns = [
      turn().then(() => started.push('a')),
      turn().then(() => started.push('b')),
      turn(true).then(() => started.push('urgent 1')),
      turn().then(() => started.push('c')),
      turn(true).then(() => started.push('urgent 2')),
    ]
    await vi.advanceTimersByTimeAsync(400)
    await Promise.all(turns)
    expect(started).toEqual(['a', 'urgent 1', 'urgent 2', 'b', 'c'])
  })
})
