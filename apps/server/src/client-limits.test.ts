import { describe, expect, it } from 'vitest'
import { clientLimits, DEFAULT_CLIENT_LIMITS, MessageBudgets } from './client-limits.ts'

describe('clientLimits', () => {
  it('applies overrides over the defaults and refuses nonsense', () => {
    expect(clientLimits()).toEqual(DEFAULT_CLIENT_LIMITS)
    const limits = clientLimits({ seatsPerAddress: 64, perSocket: undefined })
    expect(limits.seatsPerAddress).toBe(64)
    expect(limits.perSocket).toEqual(DEFAULT_CLIENT_LIMITS.perSocket)
    expect(() => clientLimits({ perAddress: { burst: 0, perSecond: 1 } })).toThrow()
    expect(() => clientLimits({ socketsPerAddress: 0.5 })).toThrow()
  })
})

describe('MessageBudgets', () => {
  const limits = clientLimits({
    perSocket: { burst: 3, perSecond: 0 },
    perAddress: { burst: 5, perSecond: 0 },
    strangers: { burst: 4, perSecond: 0 },
    socketsPerAddress: 2,
    connects: { burst: 3, perSecond: 0 },
  })

  it('takes a socket’s, then its address’s, then the strangers’ budget', () => {
    const budgets = new MessageBudgets(limits, () => 0)
    const a = budgets.socketBucket()
    const b = budgets.socketBucket()
    expect([1, 2, 3, 4].map(() => budgets.admit(a, '10.0.0.1', true))).toEqual([
      null,
      null,
      null,
      'socket',
    ])
    // The address has 2 left of its 5, whichever socket asks.
    expect([1, 2, 3].map(() => budgets.admit(b, '10.0.0.1', true))).toEqual([null, null, 'address'])
    // Strangers share one budget across addresses; members never draw on it.
    const strangers = ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']
    expect(
      strangers.map((address) => budgets.admit(budgets.socketBucket(), address, false)),
    ).toEqual([null, null, null, null, 'strangers'])
    expect(budgets.admit(budgets.socketBucket(), '10.0.0.7', true)).toBeNull()
  })

  it('caps the sockets an address holds open and how fast it opens them', () => {
    const budgets = new MessageBudgets(limits, () => 0)
    expect(budgets.mayConnect('10.0.0.1')).toBe('ok')
    budgets.opened('10.0.0.1')
    expect(budgets.mayConnect('10.0.0.1')).toBe('ok')
    budgets.opened('10.0.0.1')
    expect(budgets.mayConnect('10.0.0.1')).toBe('too many sockets from this address')
    budgets.closed('10.0.0.1')
    expect(budgets.mayConnect('10.0.0.1')).toBe('ok')
    expect(budgets.mayConnect('10.0.0.1')).toBe('connecting too fast')
  })

  it('cools down a cut-off member as itself, and a cut-off stranger by its address', () => {
    let now = 0
    const budgets = new MessageBudgets(clientLimits({ cutOffCoolDownMs: 10_000 }), () => now)
    budgets.cutOff('10.0.0.1', 'ROOM/device-a')
    // Its classmates behind the same address are not punished; it may not come back as itself.
    expect(budgets.mayConnect('10.0.0.1')).toBe('ok')
    expect(budgets.rejoinWaitMs('ROOM/device-a')).toBe(10_000)
    expect(budgets.rejoinWaitMs('ROOM/device-b')).toBe(0)
    budgets.cutOff('10.0.0.2', null)
    expect(budgets.mayConnect('10.0.0.2')).toBe('cut off for flooding')
    now = 10_000
    expect(budgets.rejoinWaitMs('ROOM/device-a')).toBe(0)
    expect(budgets.mayConnect('10.0.0.2')).toBe('ok')
  })
})
