import { type DeviceId, DeviceIdSchema, RoomCodeSchema } from '@cohort/protocol'
import { describe, expect, it } from 'vitest'
import { DEFAULT_ROOM_LIMITS, type JoinOutcome, RoomRegistry } from './rooms.ts'

const A = RoomCodeSchema.parse('AAAAAAAAAAAAA')
const B = RoomCodeSchema.parse('BBBBBBBBBBBBB')

function setup(limits: { maxMembers?: number; maxRooms?: number; emptyRoomGraceMs?: number } = {}) {
  let clock = 1_000
  let counter = 0
  const registry = new RoomRegistry(
    { maxMembers: 4, maxRooms: 10, emptyRoomGraceMs: 60_000, ...limits },
    () => clock,
    () => DeviceIdSchema.parse(`device${String(counter++).padStart(4, '0')}`),
  )
  return {
    registry,
    advance: (ms: number) => {
      clock += ms
    },
  }
}

/** Where test connections come from, with no seat limit unless a test sets one. */
const FROM = { address: '10.0.0.1', seatsPerAddress: null }

function joined(registry: RoomRegistry, connectionId: string, room = A, deviceId?: DeviceId) {
  const result = registry.join({
    connectionId,
    room,
    role: 'device',
    label: connectionId,
    ...FROM,
    ...(deviceId ? { deviceId } : {}),
  })
  if (!result.ok) throw new Error(result.error.message)
  return result.value
}

describe('RoomRegistry', () => {
  it('joins members under fresh ids and lists the others as peers', () => {
    const { registry } = setup()
    expect(registry.create(A)).toEqual({ ok: true, value: undefined })
    const first = joined(registry, 's1')
    const second = joined(registry, 's2')
    expect(first).toMatchObject({ resumed: false, peers: [], replaced: null, left: null })
    expect(second.peers.map((p) => p.deviceId)).toEqual([first.member.deviceId])
    expect(second.member.deviceId).not.toBe(first.member.deviceId)
    expect(registry.stats()).toEqual({ rooms: 1, members: 2 })
    expect(registry.memberOf('s2')?.member.connectionId).toBe('s2')
  })

  it('fits a large class by default, and a full room names its limit', () => {
    let counter = 0
    const registry = new RoomRegistry(
      DEFAULT_ROOM_LIMITS,
      () => 0,
      () => DeviceIdSchema.parse(`device${String(counter++).padStart(4, '0')}`),
    )
    registry.create(A)
    for (let i = 0; i < 128; i++) joined(registry, `s${i}`)
    const late = registry.join({
      connectionId: 'late',
      room: A,
      role: 'device',
      label: '',
      ...FROM,
    })
    expect(late).toMatchObject({
      ok: false,
      error: { code: 'room-full', message: expect.stringContaining('at most 128 members') },
    })
  })

  it('refuses unknown rooms and full rooms', () => {
    const { registry } = setup({ maxMembers: 2 })
    const missing = registry.join({
      connectionId: 's1',
      room: A,
      role: 'device',
      label: '',
      ...FROM,
    })
    expect(missing).toMatchObject({ ok: false, error: { code: 'room-not-found' } })
    registry.create(A)
    joined(registry, 's1')
    joined(registry, 's2')
    const full = registry.join({ connectionId: 's3', room: A, role: 'device', label: '', ...FROM })
    expect(full).toMatchObject({ ok: false, error: { code: 'room-full' } })
    expect(registry.stats().members).toBe(2)
  })

  it('lets a resumed device into a full room by replacing its old connection', () => {
    const { registry } = setup({ maxMembers: 2 })
    registry.create(A)
    const first = joined(registry, 's1')
    joined(registry, 's2')
    const again = joined(registry, 's1-reloaded', A, first.member.deviceId)
    expect(again.resumed).toBe(true)
    expect(again.replaced?.connectionId).toBe('s1')
    expect(again.peers.map((p) => p.connectionId)).toEqual(['s2'])
    expect(registry.memberOf('s1')).toBeUndefined()
    expect(registry.leave('s1')).toBeNull()
    expect(registry.stats()).toEqual({ rooms: 1, members: 2 })
  })

  it('names every member, uniquely in its room, and a device that comes back keeps its name', () => {
    const { registry } = setup({ maxMembers: 100 })
    registry.create(A)
    const members = Array.from({ length: 60 }, (_, i) => joined(registry, `s${i}`).member)
    expect(new Set(members.map((m) => m.name)).size).toBe(60)
    for (const member of members) expect(member.name).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/)
    const first = members[0] as (typeof members)[number]
    const again = joined(registry, 's0-reloaded', A, first.deviceId)
    expect(again.member.name).toBe(first.name)
    // Gone and back (a restarted coordinator): the same id draws the same name.
    registry.leave('s0-reloaded')
    expect(joined(registry, 's0-later', A, first.deviceId).member.name).toBe(first.name)
  })

  it('keeps one connection in at most one room', () => {
    const { registry } = setup()
    registry.create(A)
    registry.create(B)
    const inA = joined(registry, 's1', A)
    joined(registry, 'other', A)
    const inB = joined(registry, 's1', B)
    expect(inB.left).toMatchObject({ room: A, member: { deviceId: inA.member.deviceId } })
    expect(inB.left?.remaining.map((m) => m.connectionId)).toEqual(['other'])
    expect(registry.membersOf(A).map((m) => m.connectionId)).toEqual(['other'])
    expect(registry.stats().members).toBe(2)
  })

  it('rejoining the same room with its own token is a clean leave and join', () => {
    const { registry } = setup({ maxMembers: 1 })
    registry.create(A)
    const first = joined(registry, 's1')
    const again: JoinOutcome = joined(registry, 's1', A, first.member.deviceId)
    expect(again).toMatchObject({ resumed: true, replaced: null })
    expect(again.left?.member.deviceId).toBe(first.member.deviceId)
  })

  it('routes only inside the sender room', () => {
    const { registry } = setup()
    registry.create(A)
    registry.create(B)
    const a1 = joined(registry, 'a1', A)
    const a2 = joined(registry, 'a2', A)
    const b1 = joined(registry, 'b1', B)
    expect(registry.route('a1', a2.member.deviceId)).toEqual({
      ok: true,
      value: { from: a1.member.deviceId, toConnectionId: 'a2' },
    })
    expect(registry.route('a1', b1.member.deviceId)).toMatchObject({
      ok: false,
      error: { code: 'peer-not-found' },
    })
    expect(registry.route('a1', a1.member.deviceId)).toMatchObject({ ok: false })
    expect(registry.route('nobody', a1.member.deviceId)).toMatchObject({
      ok: false,
      error: { code: 'not-in-room' },
    })
  })

  it('deletes rooms only after they stayed empty for the grace period', () => {
    const { registry, advance } = setup({ emptyRoomGraceMs: 60_000 })
    registry.create(A)
    registry.create(B)
    joined(registry, 'a1', A)
    advance(59_999)
    expect(registry.sweep()).toEqual([])
    advance(1)
    expect(registry.sweep()).toEqual([B])
    expect(registry.leave('a1')?.remaining).toEqual([])
    advance(30_000)
    expect(registry.sweep()).toEqual([])
    joined(registry, 'a2', A)
    registry.leave('a2')
    advance(59_999)
    expect(registry.sweep()).toEqual([])
    advance(1)
    expect(registry.sweep()).toEqual([A])
    expect(registry.stats()).toEqual({ rooms: 0, members: 0 })
  })

  it('caps the number of rooms, sweeping expired ones first', () => {
    const { registry, advance } = setup({ maxRooms: 1, emptyRoomGraceMs: 1_000 })
    registry.create(A)
    expect(registry.create(B)).toMatchObject({ ok: false, error: { code: 'rate-limited' } })
    expect(registry.create(A)).toMatchObject({ ok: true })
    advance(1_000)
    expect(registry.create(B)).toMatchObject({ ok: true })
    expect(registry.has(A)).toBe(false)
  })

  it('strips control characters from labels', () => {
    const { registry } = setup()
    registry.create(A)
    const result = registry.join({
      connectionId: 's1',
      room: A,
      role: 'host',
      label: '  Ada\u0000s\nphone\u2028 ',
      ...FROM,
    })
    expect(result.ok && result.value.member.label).toBe('Ada s phone')
  })

  it('limits the seats one address takes, and a locked room takes only returning members', () => {
    const { registry } = setup()
    registry.create(A)
    const limited = (connectionId: string, address: string, deviceId?: DeviceId) =>
      registry.join({
        connectionId,
        room: A,
        role: 'device',
        label: connectionId,
        address,
        seatsPerAddress: 2,
        ...(deviceId ? { deviceId } : {}),
      })
    const first = limited('s1', '10.0.0.9')
    expect(limited('s2', '10.0.0.9').ok).toBe(true)
    expect(limited('s3', '10.0.0.9')).toMatchObject({ ok: false, error: { code: 'room-full' } })
    expect(limited('s3', '10.0.0.8').ok).toBe(true)
    // A reload of a seated device takes its own seat back, not a new one.
    if (!first.ok) throw new Error('first join failed')
    expect(limited('s4', '10.0.0.9', first.value.member.deviceId).ok).toBe(true)

    expect(registry.setLocked(A, true)).toBe(true)
    expect(registry.isLocked(A)).toBe(true)
    expect(limited('s5', '10.0.0.7')).toMatchObject({ ok: false, error: { code: 'room-locked' } })
    expect(limited('s6', '10.0.0.9', first.value.member.deviceId).ok).toBe(true)
    registry.setLocked(A, false)
    expect(limited('s5', '10.0.0.7').ok).toBe(true)
  })

  it('deletes a room with its members at once', () => {
    const { registry } = setup()
    registry.create(A)
    joined(registry, 's1')
    joined(registry, 's2')
    expect(
      registry
        .delete(A)
        .map((member) => member.connectionId)
        .sort(),
    ).toEqual(['s1', 's2'])
    expect(registry.has(A)).toBe(false)
    expect(registry.memberOf('s1')).toBeUndefined()
    expect(registry.stats()).toEqual({ rooms: 0, members: 0 })
  })
})
