import { describe, expect, it } from 'vitest'
import {
  LARGE_MESSAGE_BYTES,
  LINK_WINDOW_MS,
  LinkEstimate,
  MAX_BYTES_PER_MS,
} from './link-estimate.ts'

/** A link estimate on a clock the test moves. */
function estimate() {
  let now = 0
  const link = new LinkEstimate(() => now)
  return { link, advance: (ms: number) => (now += ms) }
}

describe('LinkEstimate', () => {
  it('has a round trip from small messages and no bandwidth until a large one', () => {
    const { link } = estimate()
    expect(link.rttMs).toBeNull()
    link.observe(3_000, 2)
    expect(link.rttMs).toBe(2)
    expect(link.bytesPerMs).toBeNull()
  })

  it('fits round trip + bytes / bandwidth from a small and a large message', () => {
    // A link of 1 ms round trip and 10,000 bytes per ms.
    const { link } = estimate()
    const cost = (bytes: number) => 1 + bytes / 10_000
    link.observe(8, cost(8))
    link.observe(LARGE_MESSAGE_BYTES, cost(LARGE_MESSAGE_BYTES))
    expect(link.bytesPerMs).toBeCloseTo(10_000, 6)
    // The small message's own round trip, its 8 bytes included.
    expect(link.rttMs).toBeCloseTo(cost(8), 9)
  })

  it('takes the least delayed recent message: queueing behind others is load, not the link', () => {
    const { link, advance } = estimate()
    link.observe(8, 1)
    for (const queued of [40, 25, 60]) {
      advance(1_000)
      link.observe(8, queued)
    }
    expect(link.rttMs).toBe(1)
    // Once the clean figure is older than the window, the recent ones count…
    advance(LINK_WINDOW_MS - 2_500)
    expect(link.rttMs).toBe(25)
    // …and when every point is old, the newest stands.
    advance(LINK_WINDOW_MS)
    expect(link.rttMs).toBe(60)
  })

  it('calls a link faster than its probes can resolve as fast as it reports', () => {
    const { link } = estimate()
    link.observe(8, 2)
    link.observe(LARGE_MESSAGE_BYTES, 1.5)
    expect(link.bytesPerMs).toBe(MAX_BYTES_PER_MS)
    expect(link.rttMs).toBe(2)
  })

  it('ignores mid-sized messages, which would blur both figures', () => {
    const { link } = estimate()
    link.observe(32 * 1024, 50)
    expect(link.rttMs).toBeNull()
    expect(link.bytesPerMs).toBeNull()
  })
})
