import { describe, expect, it } from 'vitest'
import { isUdpCandidate } from './webrtc.ts'

describe('isUdpCandidate', () => {
  it('takes UDP candidates and the end of gathering, not ICE over TCP', () => {
    expect(isUdpCandidate('candidate:1510613869 1 udp 2122063615 127.0.0.1 41740 typ host')).toBe(
      true,
    )
    expect(isUdpCandidate('candidate:9 1 UDP 41885439 203.0.113.7 3478 typ relay')).toBe(true)
    expect(
      isUdpCandidate(
        'candidate:344579997 1 tcp 1518083839 127.0.0.1 33381 typ host tcptype passive',
      ),
    ).toBe(false)
    expect(isUdpCandidate('')).toBe(true)
    expect(isUdpCandidate('garbage')).toBe(false)
  })
})
