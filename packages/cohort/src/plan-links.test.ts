import type { DeviceId, PeerInfo, Plan } from '@cohort/protocol'
import { describe, expect, test } from 'vitest'
import { devicePeersWanted } from './plan-links.ts'
import { plannedDevices } from './testing/planned-devices.ts'

const id = (s: string) => s as DeviceId
const peer = (deviceId: string, role: PeerInfo['role'] = 'device'): PeerInfo => ({
  deviceId: id(deviceId),
  role,
  name: `Name ${deviceId}`,
  label: deviceId,
  joinedAt: 0,
})
const planWith = (tiers: string[][]): Plan =>
  ({
    version: 1,
    task: 'fashion',
    createdAt: 0,
    models: [],
    devices: plannedDevices(tiers.flat().map(id)),
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
      capacityRps: 1_000,
      explanation: [],
    },
  }) as Plan

describe('devicePeersWanted', () => {
  test('links to hosts and requesters always; between neighbouring tiers, the earlier tier to the head of the later one', () => {
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
    // C heads its tier: it wants the whole tier before, and the next tier's head.
    expect(['aaaaaaaa', 'bbbbbbbb', 'eeeeeeee', 'dddddddd'].map((d) => wantsOfC(peer(d)))).toEqual([
      true,
      true,
      true,
      false,
    ])
    // G is not among its tier's first NEXT_TIER_LINKS: no link back; still one onwards.
    const wantsOfG = devicePeersWanted(
      () => plan,
      () => id('gggggggg'),
    )
    expect(['aaaaaaaa', 'eeeeeeee'].map((d) => wantsOfG(peer(d)))).toEqual([false, true])
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
