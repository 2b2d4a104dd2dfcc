import { describe, expect, it } from 'vitest'
import { clockStepMs, engineOf, measureEngineFacts } from './engine-facts.ts'

describe('engineOf', () => {
  it('names the engine of the browsers Cohort meets', () => {
    expect(engineOf('Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0')).toBe(
      'gecko',
    )
    expect(
      engineOf(
        'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36',
      ),
    ).toBe('chromium')
    expect(
      engineOf(
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
      ),
    ).toBe('webkit')
    expect(engineOf('curl/8.0')).toBe('other')
  })
})

describe('clockStepMs', () => {
  /** A clock that moves by `step` every `callsPerStep` reads. */
  const steppingClock = (step: number, callsPerStep: number) => {
    let calls = 0
    return () => Math.floor(calls++ / callsPerStep) * step
  }

  it('finds a coarse clock’s step', () => {
    expect(clockStepMs(steppingClock(1, 50))).toBe(1)
    expect(clockStepMs(steppingClock(0.1, 3))).toBeCloseTo(0.1, 9)
  })

  it('reports a clock that never moves within its watch as the watch’s length', () => {
    expect(clockStepMs(steppingClock(100, 10))).toBe(40)
    expect(clockStepMs(() => 7)).toBe(40)
  })

  it('takes the smallest step of a jittered clock', () => {
    // Steps of 3, 1, 2 and 4 µs (in ms), each read twice.
    const times = [0, 0, 3, 3, 4, 4, 6, 6, 10, 10, 13, 13, 14, 14, 16, 16, 20, 20]
    let i = 0
    expect(clockStepMs(() => (times[Math.min(i++, times.length - 1)] ?? 0) / 1_000)).toBe(0.001)
  })
})

describe('measureEngineFacts', () => {
  it('describes Node as always isolated, without WebGPU or a screen to keep on', () => {
    const facts = measureEngineFacts('node')
    expect(facts).toMatchObject({
      engine: 'node',
      crossOriginIsolated: true,
      webgpuApi: false,
      wakeLock: false,
    })
    expect(facts.clockStepMs).toBeGreaterThan(0)
    expect(facts.clockStepMs).toBeLessThan(0.1)
  })
})
