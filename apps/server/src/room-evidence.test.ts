import type { DeviceId, RoomCode } from '@cohort/protocol'
import { describe, expect, it } from 'vitest'
import type { ManifestCatalog } from './manifest-catalog.ts'
import { MAX_EVIDENCE_RECORDS, RoomPlans } from './room-plans.ts'
import type { RoomRegistry } from './rooms.ts'

// The failure evidence of a room, on its own: a registry that says who is a member now and a
// catalog with no tasks (no plan is made; only the evidence is looked at).
function plansWith(members: () => readonly DeviceId[]) {
  const registry = {
    membersOf: () => members().map((deviceId) => ({ deviceId, role: 'device' })),
  } as unknown as RoomRegistry
  const plans = new RoomPlans({
    registry,
    catalog: { get: () => null } as unknown as ManifestCatalog,
    push: () => {},
    debounceMs: 1_000_000,
    defaultTask: 'fashion',
    now: () => 0,
    log: () => {},
  })
  return plans
}

const ROOM = 'ROOM' as RoomCode
const id = (i: number) => `dev-${i}` as DeviceId

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
