import type { EngineFacts } from '@cohort/protocol'

/** The engine a user agent names (Gecko is Firefox's; Chromium covers Chrome, Edge, Opera). */
export function engineOf(userAgent: string): EngineFacts['engine'] {
  if (/Gecko\/\d/.test(userAgent) && /Firefox\//.test(userAgent)) return 'gecko'
  if (/Chrom(e|ium)\//.test(userAgent)) return 'chromium'
  if (/AppleWebKit\//.test(userAgent)) return 'webkit'
  return 'other'
}

/** Ticks of the clock watched before its step is known; a coarse clock is watched for less. */
const CLOCK_TICKS = 8
/** Longest the clock is watched, ms of wall time (a clock coarser than this reports this). */
const CLOCK_WATCH_MS = 40
/** Most reads of the clock, so a clock that never moves cannot hold the page. */
const CLOCK_READS = 2_000_000

/**
 * The smallest step `now` moves by: watched for CLOCK_TICKS ticks or CLOCK_WATCH_MS, whichever
 * comes first. Browsers coarsen `performance.now()` (Chromium to 5–100 µs, Firefox to 1 ms
 * outside cross-origin isolation, Safari to 1 ms), which bounds what a round trip can resolve.
 */
export function clockStepMs(now: () => number = () => performance.now()): number {
  const start = now()
  let last = start
  let step = Number.POSITIVE_INFINITY
  for (let ticks = 0, reads = 0; ticks < CLOCK_TICKS && reads < CLOCK_READS; reads++) {
    const t = now()
    if (t > last) {
      step = Math.min(step, t - last)
      last = t
      ticks++
    }
    if (t - start >= CLOCK_WATCH_MS) break
  }
  return Math.min(step, CLOCK_WATCH_MS)
}

/** What this page's (or process's) engine can do, measured here. */
export function measureEngineFacts(platform: 'browser' | 'node'): EngineFacts {
  const nav: Partial<Navigator> = globalThis.navigator ?? {}
  return {
    engine: platform === 'node' ? 'node' : engineOf(nav.userAgent ?? ''),
    clockStepMs: clockStepMs(),
    crossOriginIsolated: platform === 'node' || globalThis.crossOriginIsolated === true,
    webgpuApi: platform === 'browser' && 'gpu' in nav && nav.gpu !== undefined,
    wakeLock: platform === 'browser' && 'wakeLock' in nav,
  }
}
