import type { DeviceId, DeviceProfile, RoomCode } from '@cohort/protocol'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { ManifestCatalog } from './manifest-catalog.ts'
import { MAX_EVIDENCE_RECORDS, RoomPlans } from './room-plans.ts'
import type { RoomRegistry } from './rooms.ts'

// The failure evidence and the replanning of a room, on their own: a registry that says who is
// a member now and a catalog with no tasks (plans carry no groups; only their versions count).
function plansWith(members: () => readonly DeviceId[], logged: string[] = []) {
  const registry = {
    membersOf: () =>
      members().map((deviceId) => ({ deviceId, role: 'device', connectionId: deviceId })),
  } as unknown as RoomRegistry
  const plans = new RoomPlans({
    registry,
    catalog: { get: () => null } as unknown as ManifestCatalog,
    push: () => {},
    debounceMs: 10,
    defaultTask: 'fashion',
    now: () => Date.now(),
    log: (line) => logged.push(line),
  })
  return plans
}

const ROOM = 'ROOM' as RoomCode
const id = (i: number) => `dev-${i}` as DeviceId

describe('replanning on departures', () => {
  afterEach(() => vi.useRealTimers())

  it('replans when a profiled device leaves, not when a member that was never planned does', async () => {
    vi.useFakeTimers()
    const logged: string[] = []
    const plans = plansWith(() => [id(1)], logged)
    const profile = { task: 'fashion', msPerModel: {} } as unknown as DeviceProfile
    plans.setProfile(ROOM, id(1), profile)
    await vi.advanceTimersByTimeAsync(50)
    expect(logged.filter((line) => line.includes('plan v'))).toHaveLength(1)
    // A requester (or the host, or a device still loading) leaving: nothing to re-form.
    plans.left(ROOM, id(2))
    await vi.advanceTimersByTimeAsync(50)
    expect(logged.filter((line) => line.includes('plan v'))).toHaveLength(1)
    plans.left(ROOM, id(1))
    await vi.advanceTimersByTimeAsync(50)
    expect(logged.filter((line) => line.includes('plan v'))).toHaveLength(2)
    plans.close()
  })
})

describe('failure evidence', () => {
  it('counts reports on members, ignores ids never seen, and keeps a departed device’s history', () => {
    let members = [id(1)]
    const plans = plansWith(() => members)
    plans.report(ROOM, [
      { deviceId: id(1), requests: 10, misses: 2 },
      { deviceId: id(2), requests: 5, misses: 5 },
    ])
    expect(plans.evidenceOf(ROOM, id(1))).toEqual({ requests: 10, misses: 2 })
    expect(plans.evidenceOf(ROOM, id(2))).toBeNull()
    members = []
    plans.report(ROOM, [{ deviceId: id(1), requests: 4, misses: 9 }])
    // Misses beyond the requests reported are not believed.
    expect(plans.evidenceOf(ROOM, id(1))).toEqual({ requests: 14, misses: 6 })
    plans.close()
  })

  it('stays bounded however many devices come and go, forgetting those gone longest first', () => {
    let members: DeviceId[] = []
    const plans = plansWith(() => members)
    const many = MAX_EVIDENCE_RECORDS + 500
    for (let i = 0; i < many; i++) {
      members = [id(i), id(-1)]
      plans.report(ROOM, [
        { deviceId: id(i), requests: 1, misses: 0 },
        { deviceId: id(-1), requests: 1, misses: 0 },
      ])
    }
    // The long-lived member keeps everything; the oldest departed devices are forgotten.
    expect(plans.evidenceOf(ROOM, id(-1))).toEqual({ requests: many, misses: 0 })
    expect(plans.evidenceOf(ROOM, id(0))).toBeNull()
    expect(plans.evidenceOf(ROOM, id(many - 1))).toEqual({ requests: 1, misses: 0 })
    let kept = 0
    for (let i = 0; i < many; i++) if (plans.evidenceOf(ROOM, id(i))) kept++
    expect(kept).toBe(MAX_EVIDENCE_RECORDS - 1)
    plans.close()
  })
})
