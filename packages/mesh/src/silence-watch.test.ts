import { describe, expect, it } from 'vitest'
import { SilenceWatch } from './silence-watch.ts'

const INTERVAL = 400
const STALL = 1_000

describe('SilenceWatch', () => {
  it('counts the silence since the peer was last heard while ticks come on time', () => {
    const watch = new SilenceWatch(INTERVAL, STALL, 0)
    expect(watch.tick(400)).toBe(400)
    watch.heard(500)
    expect(watch.tick(800)).toBe(300)
    expect(watch.tick(1_200)).toBe(700)
    expect(watch.tick(1_600)).toBe(1_100)
  })

  it('does not hold a stall of this page against the peer', () => {
    const watch = new SilenceWatch(INTERVAL, STALL, 0)
    watch.heard(300)
    expect(watch.tick(400)).toBe(100)
    // This page's thread was blocked for 3 s: the tick comes 2.6 s late, and the peer's messages
    // that arrived meanwhile are still queued behind it.
    expect(watch.tick(3_800)).toBe(500)
    watch.heard(3_810)
    expect(watch.tick(4_200)).toBe(390)
  })

  it('still finds a peer silent over running time after a stall', () => {
    const watch = new SilenceWatch(INTERVAL, STALL, 0)
    expect(watch.tick(5_000)).toBeLessThanOrEqual(INTERVAL)
    let silence = 0
    for (let now = 5_400; now <= 7_400; now += INTERVAL) silence = watch.tick(now)
    expect(silence).toBeGreaterThan(2_000)
  })

  it('does not count ticks up to a second late (a loaded machine) as a stall', () => {
    const watch = new SilenceWatch(INTERVAL, STALL, 0)
    let silence = 0
    for (let now = 1_300; now <= 3_900; now += 1_300) silence = watch.tick(now)
    expect(silence).toBe(3_900)
  })
})
