import type { ClientMessage } from '@cohort/protocol'
import { describe, expect, it } from 'vitest'
import { refusal, type Standing } from './permissions.ts'

const TYPES: readonly ClientMessage['type'][] = [
  'create-room',
  'join-room',
  'signal',
  'leave',
  'profile',
  'loaded',
  'report',
  'set-task',
  'set-ensemble-k',
  'remove-device',
  'lock-room',
  'end-room',
]

/** The rule, written out as a table a reviewer can check at a glance. */
const EXPECTED: Record<Standing, readonly ClientMessage['type'][]> = {
  stranger: ['create-room', 'join-room', 'leave'],
  device: ['create-room', 'join-room', 'signal', 'leave', 'profile', 'loaded'],
  requester: ['create-room', 'join-room', 'signal', 'leave'],
  host: [
    'create-room',
    'join-room',
    'signal',
    'leave',
    'report',
    'set-task',
    'set-ensemble-k',
    'remove-device',
    'lock-room',
    'end-room',
  ],
}

describe('refusal', () => {
  it('lets each standing send exactly its messages', () => {
    for (const standing of ['stranger', 'device', 'requester', 'host'] as const) {
      const allowed = TYPES.filter((type) => refusal(standing, type) === null)
      expect(allowed, standing).toEqual(EXPECTED[standing])
    }
  })

  it('tells a stranger to join and a member what it may not do', () => {
    expect(refusal('stranger', 'signal')).toEqual({
      code: 'not-in-room',
      message: 'Join a room first.',
    })
    expect(refusal('device', 'report')).toEqual({
      code: 'forbidden',
      message: 'A device may not send report; only a host may.',
    })
  })
})
