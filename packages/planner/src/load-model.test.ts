import { describe, expect, it } from 'vitest'
import { atWindow, capacityLine, kneeWindow, MAX_CAPACITY_RPS, planCapacity } from './load-model.ts'

describe('planCapacity', () => {
  it('sums each device over what it serves and names the busiest', () => {
    const capacity = planCapacity([
      { deviceId: 'a', ms: 2, share: 1, label: 'slice 0' },
      { deviceId: 'b', ms: 3, share: 1, label: 'slice 1' },
      // a also serves a tier half the requests reach: 2 + 0.5 x 4 = 4 ms per request.
      { deviceId: 'a', ms: 4, share: 0.5, label: 'edge' },
    ])
    expect(capacity.bottleneck).toEqual({
      deviceId: 'a',
      msPerRequest: 4,
      serves: ['slice 0', 'edge'],
    })
    expect(capacity.capacityRps).toBeCloseTo(250, 9)
  })

  it('is unbounded (capped) when nothing computes', () => {
    expect(planCapacity([])).toEqual({ capacityRps: MAX_CAPACITY_RPS, bottleneck: null })
    const idle = planCapacity([{ deviceId: 'a', ms: 3, share: 0, label: 'cloud' }])
    expect(idle.capacityRps).toBe(MAX_CAPACITY_RPS)
    expect(capacityLine(planCapacity([]), 1)).toMatch(/no device computes/)
  })
})

describe('atWindow', () => {
  // 10 ms unloaded, 400 requests/s: the knee is at 4 in flight.
  it('scales with the window below the knee, at the unloaded latency', () => {
    expect(kneeWindow(10, 400)).toBeCloseTo(4, 9)
    const two = atWindow(10, 400, 2)
    expect(two.requestsPerSecond).toBeCloseTo(200, 9)
    expect(two.latencyMs).toBeCloseTo(10, 9)
  })

  it('stays at the capacity above the knee, and latency grows with the queue', () => {
    const sixteen = atWindow(10, 400, 16)
    expect(sixteen.requestsPerSecond).toBeCloseTo(400, 9)
    expect(sixteen.latencyMs).toBeCloseTo(40, 9)
    expect(atWindow(10, 400, 8).latencyMs).toBeLessThan(sixteen.latencyMs)
  })

  it('treats a window below 1 as one request in flight', () => {
    expect(atWindow(10, 400, 0)).toEqual(atWindow(10, 400, 1))
  })

  it('explains the limit with the busiest device and the knee', () => {
    const capacity = planCapacity([{ deviceId: 'phone', ms: 2.5, share: 1, label: 'slice 0' }])
    expect(capacityLine(capacity, 10)).toBe(
      'Under load: at most 400 requests/s; phone is busiest (2.50 ms of compute per request: slice 0); beyond about 4.0 requests in flight, more only queue.',
    )
  })
})
