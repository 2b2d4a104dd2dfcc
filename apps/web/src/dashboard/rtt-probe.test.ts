import { LARGE_MESSAGE_BYTES, type Mesh, type PeerStatus } from '@cohort/mesh'
import { ok, type Tensor } from '@cohort/protocol'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { RttProbe } from './rtt-probe.ts'

/** A room of peers whose requests resolve when the test says so. */
function fakeMesh(peers: PeerStatus[]) {
  const sent: string[] = []
  const pending: (() => void)[] = []
  const mesh = {
    peers: () => peers,
    request: (id: string, _method: string, tensors: Tensor[]) => {
      const bytes = tensors.reduce((sum, tensor) => sum + tensor.data.byteLength, 0)
      sent.push(bytes >= LARGE_MESSAGE_BYTES / 2 ? `${id} large` : id)
      return new Promise((resolve) => {
        pending.push(() => resolve(ok({ frames: [], timings: {}, roundTripMs: 1, method: 'echo' })))
      })
    },
  } as unknown as Mesh
  const answerAll = async () => {
    for (const answer of pending.splice(0)) answer()
    // Lets each probe's continuation run (it may send its large echo).
    for (let turn = 0; turn < 4; turn++) await Promise.resolve()
  }
  return { mesh, sent, answerAll }
}

const peer = (
  id: string,
  link: PeerStatus['link'],
  rttMs: number | null,
  bytesPerMs: number | null = 10_000,
) =>
  ({
    info: { deviceId: id, role: 'device', label: id },
    link,
    rttMs,
    bytesPerMs,
  }) as unknown as PeerStatus

describe('RttProbe', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('probes open links with no round trip yet, once at a time: tiny echo, then large', async () => {
    const { mesh, sent, answerAll } = fakeMesh([
      peer('a', 'open', null, null),
      peer('b', 'open', 0.5),
      peer('c', 'connecting', null),
    ])
    const measured = vi.fn()
    const probe = new RttProbe(mesh, () => false, measured)
    probe.onMeshEvent()
    probe.onMeshEvent()
    expect(sent).toEqual(['a'])
    // a has no bandwidth yet: the large echo follows the tiny one, not alongside it.
    await answerAll()
    expect(sent).toEqual(['a', 'a large'])
    expect(measured).not.toHaveBeenCalled()
    await answerAll()
    expect(measured).toHaveBeenCalledTimes(1)
    probe.dispose()
  })

  it('measures a link without a bandwidth at the next idle refresh: tiny echo, then large', async () => {
    const { mesh, sent, answerAll } = fakeMesh([peer('a', 'open', 1, null), peer('b', 'open', 1)])
    const probe = new RttProbe(
      mesh,
      () => true,
      () => {},
    )
    vi.advanceTimersByTime(5_000)
    expect(sent).toEqual(['a', 'b'])
    await answerAll()
    expect(sent).toEqual(['a', 'b', 'a large'])
    probe.dispose()
  })

  it('measures the bandwidth of idle links again every sixth refresh', async () => {
    const { mesh, sent, answerAll } = fakeMesh([peer('a', 'open', 1)])
    const probe = new RttProbe(
      mesh,
      () => true,
      () => {},
    )
    for (let refresh = 1; refresh <= 6; refresh++) {
      vi.advanceTimersByTime(5_000)
      await answerAll()
      await answerAll()
    }
    expect(sent).toEqual(['a', 'a', 'a', 'a', 'a', 'a', 'a large'])
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
