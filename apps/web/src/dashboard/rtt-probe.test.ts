import type { Mesh, PeerStatus } from '@cohort/mesh'
import { ok } from '@cohort/protocol'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { RttProbe } from './rtt-probe.ts'

/** A room of peers whose requests resolve when the test says so. */
function fakeMesh(peers: PeerStatus[]) {
  const sent: string[] = []
  const pending: (() => void)[] = []
  const mesh = {
    peers: () => peers,
    request: (id: string) => {
      sent.push(id)
      return new Promise((resolve) => {
        pending.push(() => resolve(ok({ frames: [], timings: {}, roundTripMs: 1, method: 'echo' })))
      })
    },
  } as unknown as Mesh
  const answerAll = async () => {
    for (const answer of pending.splice(0)) answer()
    await Promise.resolve()
    await Promise.resolve()
  }
  return { mesh, sent, answerAll }
}

const peer = (id: string, link: PeerStatus['link'], rttMs: number | null) =>
  ({ info: { deviceId: id, role: 'device', label: id }, link, rttMs }) as unknown as PeerStatus

describe('RttProbe', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('probes open links with no round trip yet, once at a time', async () => {
    const { mesh, sent, answerAll } = fakeMesh([
      peer('a', 'open', null),
      peer('b', 'open', 0.5),
      peer('c', 'connecting', null),
    ])
    const measured = vi.fn()
    const probe = new RttProbe(mesh, () => false, measured)
    probe.onMeshEvent()
    probe.onMeshEvent()
    expect(sent).toEqual(['a'])
    await answerAll()
    expect(measured).toHaveBeenCalledTimes(1)
    probe.dispose()
  })

  it('measures every open link again while idle, and not during a run', async () => {
    const { mesh, sent, answerAll } = fakeMesh([peer('a', 'open', 1), peer('b', 'open', 2)])
    let idle = false
    const probe = new RttProbe(
      mesh,
      () => idle,
      () => {},
    )
    vi.advanceTimersByTime(5_000)
    expect(sent).toEqual([])
    idle = true
    vi.advanceTimersByTime(5_000)
    expect(sent).toEqual(['a', 'b'])
    await answerAll()
    probe.dispose()
    vi.advanceTimersByTime(10_000)
    expect(sent).toEqual(['a', 'b'])
  })
})
