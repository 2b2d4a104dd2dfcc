import { describe, expect, it } from 'vitest'
import { type DeviceStatusInput, deviceStatus, downloadPercent } from './device-status.ts'

const ready = { phase: 'ready', bytesDone: 100, bytesTotal: 100, error: null } as const
const base: DeviceStatusInput = {
  signaling: 'joined',
  everJoined: true,
  ended: null,
  joinError: null,
  runtime: ready,
  runtimeLoadError: null,
  peers: { total: 1, open: 1 },
  everLinked: true,
  hostLeft: false,
  served: 0,
}
const phaseOf = (change: Partial<DeviceStatusInput>) => deviceStatus({ ...base, ...change }).phase

describe('deviceStatus', () => {
  it('walks joining → downloading → ready → serving as a device comes up', () => {
    const fresh = { everJoined: false, everLinked: false, peers: { total: 0, open: 0 } }
    expect(phaseOf({ ...fresh, signaling: 'connecting', runtime: null })).toBe('joining')
    const downloading = deviceStatus({
      ...base,
      ...fresh,
      runtime: { phase: 'downloading', bytesDone: 430, bytesTotal: 1000, error: null },
    })
    expect(downloading).toMatchObject({
      phase: 'downloading',
      progress: 43,
      text: 'Downloading 43%',
    })
    expect(phaseOf({ ...fresh, runtime: ready })).toBe('ready')
    expect(deviceStatus({ ...base, served: 7 })).toMatchObject({
      phase: 'serving',
      served: 7,
      text: 'Serving · 7 requests',
    })
  })

  it('stays in downloading at 100% while the models load and the device is measured', () => {
    for (const phase of ['starting', 'calibrating', 'loading', 'profiling'] as const) {
      const status = deviceStatus({ ...base, runtime: { ...ready, phase } })
      expect(status).toMatchObject({ phase: 'downloading', progress: 100 })
      expect(status.detail).not.toBe('')
    }
    expect(deviceStatus({ ...base, runtime: null })).toMatchObject({
      phase: 'downloading',
      progress: 0,
    })
  })

  it('says reconnecting when the server or every peer link is lost, and only then', () => {
    expect(phaseOf({ signaling: 'reconnecting', served: 3 })).toBe('reconnecting')
    expect(phaseOf({ signaling: 'connecting' })).toBe('reconnecting')
    expect(phaseOf({ peers: { total: 2, open: 0 }, served: 3 })).toBe('reconnecting')
    // One link of two still open: the device still serves.
    expect(phaseOf({ peers: { total: 2, open: 1 }, served: 3 })).toBe('serving')
    // Links still forming on the first join are not a loss; a room of one is no loss either.
    expect(phaseOf({ everLinked: false, peers: { total: 1, open: 0 } })).toBe('ready')
    expect(phaseOf({ peers: { total: 0, open: 0 } })).toBe('ready')
  })

  it('ends in left with a reason, and errors say what to do next', () => {
    expect(phaseOf({ ended: 'left', signaling: 'closed' })).toBe('left')
    expect(deviceStatus({ ...base, ended: 'removed' })).toMatchObject({
      phase: 'left',
      text: 'Removed',
    })
    expect(phaseOf({ ended: 'replaced' })).toBe('left')
    expect(deviceStatus({ ...base, ended: 'ended' })).toMatchObject({
      phase: 'left',
      text: 'Room ended',
    })
    const refused = deviceStatus({ ...base, signaling: 'failed', joinError: 'No such room.' })
    expect(refused).toMatchObject({ phase: 'error', detail: 'No such room.' })
    const broken = deviceStatus({
      ...base,
      runtime: { ...ready, phase: 'failed', error: 'Bad hash.' },
    })
    expect(broken.phase).toBe('error')
    expect(broken.detail).toContain('Reload')
    expect(phaseOf({ runtime: null, runtimeLoadError: 'offline' })).toBe('error')
  })

  it('says the host left while it stays ready or serving', () => {
    for (const served of [0, 5]) {
      const status = deviceStatus({ ...base, served, hostLeft: true })
      expect(status.phase).toBe(served > 0 ? 'serving' : 'ready')
      expect(status.detail).toMatch(/^The host left\. This device stays in the room/)
    }
    expect(deviceStatus({ ...base, served: 5 }).detail).toBe('Keep this page open.')
    // Losing the server matters more than the host.
    expect(phaseOf({ hostLeft: true, signaling: 'reconnecting' })).toBe('reconnecting')
  })

  it('puts an end before an error, and an error before a reconnect', () => {
    expect(phaseOf({ ended: 'left', signaling: 'failed' })).toBe('left')
    expect(phaseOf({ signaling: 'reconnecting', runtimeLoadError: 'offline' })).toBe('error')
  })
})

describe('downloadPercent', () => {
  it('is whole percent, 0 before sizes are known, never past 100', () => {
    expect(downloadPercent(0, 0)).toBe(0)
    expect(downloadPercent(999, 1000)).toBe(99)
    expect(downloadPercent(1000, 1000)).toBe(100)
    expect(downloadPercent(1200, 1000)).toBe(100)
  })
})
