import type { DeviceId, PeerInfo, Plan } from '@cohort/protocol'
import { describe, expect, test } from 'vitest'
import { devicePeersWanted } from './plan-links.ts'

const id = (s: string) => s as DeviceId
const peer = (deviceId: string, role: PeerInfo['role'] = 'device'): PeerInfo => ({
  deviceId: id(deviceId),
  role,
  label: deviceId,
  joinedAt: 0,
})
const planWith = (tiers: string[][]): Plan =>
  ({
    version: 1,
    task: 'fashion',
    createdAt: 0,
    profiled: tiers.flat().map(id),
    ensemble: null,
    earlyExit: {
      segments: ['segment-1', 'segment-2', 'segment-3', 'segment-4'],
      tiers: tiers.map((members, i) => ({
        tier: i === tiers.length - 1 ? 'cloud' : 'edge',
        segment: `segment-${i + 2}`,
        members: members.map(id),
        memberMs: members.map(() => 1),
        predictedMs: 1,
      })),
      thresholds: [0.9, 0.8, 0.7],
      expectedRemoteMs: 1,
      explanation: [],
    },
  }) as Plan

describe('devicePeersWanted', () => {
  test('offers links to hosts and requesters always, to devices only at the head of the next tier', () => {
    const plan = planWith([
      ['aaaaaaaa', 'bbbbbbbb'],
      ['cccccccc', 'dddddddd', 'ffffffff', 'gggggggg'],
      ['eeeeeeee'],
    ])
    const wantsOfA = devicePeersWanted(
      () => plan,
      () => id('aaaaaaaa'),
    )
    expect(wantsOfA(peer('hhhhhhhh', 'host'))).toBe(true)
    expect(wantsOfA(peer('rrrrrrrr', 'requester'))).toBe(true)
    expect(wantsOfA(peer('bbbbbbbb'))).toBe(false) // same tier
    expect(wantsOfA(peer('cccccccc'))).toBe(true) // the tier it hops to…
    expect(wantsOfA(peer('ffffffff'))).toBe(true)
    expect(wantsOfA(peer('gggggggg'))).toBe(false) // …its first NEXT_TIER_LINKS members
    expect(wantsOfA(peer('eeeeeeee'))).toBe(false) // two tiers on
    const wantsOfC = devicePeersWanted(
      () => plan,
      () => id('cccccccc'),
    )
    // The tier before offers to it; it offers only onwards.
    expect(['aaaaaaaa', 'eeeeeeee', 'dddddddd'].map((d) => wantsOfC(peer(d)))).toEqual([
      false,
      true,
      false,
    ])
  })

  test('no device links before a plan or before joining, and none to unplanned devices', () => {
    const plan = planWith([['aaaaaaaa'], ['bbbbbbbb']])
    expect(
      devicePeersWanted(
        () => null,
        () => id('aaaaaaaa'),
      )(peer('bbbbbbbb')),
    ).toBe(false)
    expect(
      devicePeersWanted(
        () => plan,
        () => null,
      )(peer('bbbbbbbb')),
    ).toBe(false)
    expect(
      devicePeersWanted(
        () => plan,
        () => id('aaaaaaaa'),
      )(peer('zzzzzzzz')),
    ).toBe(false)
    expect(
      devicePeersWanted(
        () => plan,
        () => id('aaaaaaaa'),
      )(peer('zzzzzzzz', 'host')),
    ).toBe(true)
  })
})
