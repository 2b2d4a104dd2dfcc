import type { MeshEvent, PeerStatus } from '@cohort/mesh'
import type { DeviceId, Plan } from '@cohort/protocol'
import { describe, expect, it } from 'vitest'
import { EventLog } from './event-log.ts'
import { describePlan, logReports, logRequest, roomLogger } from './room-events.ts'

const peer = (id: string): PeerStatus =>
  ({
    info: { deviceId: id as DeviceId, role: 'device', label: `phone ${id}` },
    link: 'open',
    rttMs: null,
  }) as PeerStatus

const plan = (version: number): Plan =>
  ({
    version,
    ensemble: {
      k: 2,
      groups: [
        { slice: 0, members: ['a', 'b'] },
        { slice: 1, members: ['c'] },
      ],
    },
    earlyExit: { tiers: [{ tier: 'edge', members: ['a'] }] },
  }) as unknown as Plan

const kinds = (log: EventLog) => log.entries().map((line) => [line.kind, line.text])

describe('roomLogger', () => {
  it('logs joins and leaves by comparing who is in the room, with the reason a device went', () => {
    const log = new EventLog()
    let room = [peer('a')]
    const listen = roomLogger(log, () => room)
    listen({ type: 'peers' })
    room = [peer('a'), peer('b')]
    listen({ type: 'peers' })
    room = [peer('b')]
    listen({ type: 'peer-gone', deviceId: 'a' as DeviceId, reason: 'disconnected' })
    listen({ type: 'peers' })
    expect(kinds(log)).toEqual([
      ['leave', 'a left (disconnected)'],
      ['join', 'b joined (phone b)'],
      ['join', 'a joined (phone a)'],
    ])
  })

  it('logs a lost link of a device still in the room as a failure', () => {
    const log = new EventLog()
    const listen = roomLogger(log, () => [peer('a')])
    listen({ type: 'peer-gone', deviceId: 'a' as DeviceId, reason: 'silent' })
    expect(kinds(log)).toEqual([['failure', 'link to a lost (silent)']])
  })

  it('logs each plan version once, in order', () => {
    const log = new EventLog()
    const listen = roomLogger(log, () => [])
    for (const version of [2, 2, 1, 3]) listen({ type: 'plan', plan: plan(version) } as MeshEvent)
    expect(log.entries().map((line) => line.text.split(' · ')[0])).toEqual(['plan v3', 'plan v2'])
  })
})

describe('describePlan', () => {
  it('names K, the group sizes and the tiers', () => {
    expect(describePlan(plan(4))).toBe('plan v4 · K = 2, 2 groups (2+1 members) · tiers edge ×1')
  })
})

describe('logRequest and logReports', () => {
  it('logs degraded answers merged per run and missing slices, errors as failures', () => {
    const log = new EventLog()
    const outcome = {
      index: 0,
      label: 1,
      prediction: 1,
      degraded: true,
      missingSlices: [1],
      latencyMs: 5,
      k: 2,
      planVersion: 1,
      winners: [],
      error: null,
    }
    logRequest(log, { mode: 'ensemble', outcome }, 1)
    logRequest(log, { mode: 'ensemble', outcome: { ...outcome, index: 1 } }, 1)
    logRequest(log, { mode: 'ensemble', outcome: { ...outcome, degraded: false } }, 1)
    logRequest(
      log,
      {
        mode: 'single',
        outcome: {
          index: 2,
          label: 1,
          prediction: null,
          latencyMs: 1,
          computeMs: null,
          error: 'timeout: late',
        },
      },
      1,
    )
    expect(log.entries().map((line) => [line.kind, line.count])).toEqual([
      ['failure', 1],
      ['degraded', 2],
    ])
  })

  it('logs only devices that missed requests', () => {
    const log = new EventLog()
    logReports(log, [
      { deviceId: 'a' as DeviceId, requests: 10, misses: 0 },
      { deviceId: 'b' as DeviceId, requests: 4, misses: 3 },
    ])
    expect(kinds(log)).toEqual([
      ['failure', 'b missed 3 of 4 requests (reported to the coordinator)'],
    ])
  })
})
