import { EarlyExitPlanSchema } from '@cohort/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { DeviceSpec, ModelSpec } from './latency-model.ts'
import { roomArbitrary } from './testing.ts'
import {
  MOVE_GAIN,
  planTiers,
  remoteHopMs,
  type SegmentChainSpec,
  tierSizes,
} from './tier-planner.ts'

const segments: ModelSpec[] = [
  { id: 'segment-1', macs: 800_000, inputBytes: 3_136, outputBytes: 40 },
  { id: 'segment-2', macs: 1_500_000, inputBytes: 1_184, outputBytes: 40 },
  { id: 'segment-3', macs: 3_200_000, inputBytes: 2_360, outputBytes: 40 },
]
const chain: SegmentChainSpec = {
  segments,
  thresholds: [0.9, 0.8],
  exitFractions: [0.6, 0.3, 0.1],
}

/** A device running `macsPerMs` on every segment it measured. */
const device = (id: string, macsPerMs: number, failureProbability = 0.05): DeviceSpec => ({
  deviceId: id,
  msPerModel: Object.fromEntries(segments.map((s) => [s.id, s.macs / macsPerMs])),
  rttMs: 1,
  bytesPerMs: 5_000,
  failureProbability,
})

/** Predicted ms of running every remote segment on `d` (the planner's speed order). */
const remoteMs = (d: DeviceSpec) => remoteHopMs(d, chain).reduce((sum, ms) => sum + ms, 0)

describe('tierSizes', () => {
  it('splits evenly, earlier tiers take the remainder', () => {
    expect(tierSizes(4, 2)).toEqual([2, 2])
    expect(tierSizes(5, 2)).toEqual([3, 2])
    expect(tierSizes(7, 3)).toEqual([3, 2, 2])
    expect(tierSizes(1, 2)).toEqual([1, 0])
  })
})

describe('planTiers', () => {
  it('gives the cloud tier to always-on devices first, even slower ones', () => {
    const room = [device('aaaaaaaa', 8e6), device('bbbbbbbb', 6e6), device('cccccccc', 4e6)]
    room.push({ ...device('nnnnnnnn', 2e6), alwaysOn: true }, device('dddddddd', 1e6))
    room.push({ ...device('mmmmmmmm', 3e6), alwaysOn: true })
    const plan = planTiers(room, chain)
    const cloud = plan?.tiers.find((tier) => tier.tier === 'cloud')
    // Three cloud seats: both always-on devices, then the fastest browser.
    expect([...(cloud?.members ?? [])].sort()).toEqual(['aaaaaaaa', 'mmmmmmmm', 'nnnnnnnn'])
    expect(plan?.explanation.join(' ')).toMatch(/Always-on devices \(Node\) take the cloud tier/)
    // Without the flag the same room's cloud is its three fastest.
    const plain = planTiers(
      room.map(({ alwaysOn: _, ...spec }) => spec),
      chain,
    )
    expect([...(plain?.tiers[1]?.members ?? [])].sort()).toEqual([
      'aaaaaaaa',
      'bbbbbbbb',
      'cccccccc',
    ])
  })

  it('puts the two fastest of four devices on the cloud, the others on the edge, best first', () => {
    const room = [device('aaaaaaaa', 1e6), device('bbbbbbbb', 8e6), device('cccccccc', 2e6)]
    room.push(device('dddddddd', 4e6))
    const plan = planTiers(room, chain)
    expect(plan?.tiers.map((tier) => [tier.tier, tier.segment, tier.members])).toEqual([
      ['edge', 'segment-2', ['cccccccc', 'aaaaaaaa']],
      ['cloud', 'segment-3', ['bbbbbbbb', 'dddddddd']],
    ])
    expect(plan?.segments).toEqual(['segment-1', 'segment-2', 'segment-3'])
    expect(plan?.thresholds).toEqual([0.9, 0.8])
    // Best member of the cloud: 3.2M MACs at 8M/ms = 0.4 ms, + 1 ms rtt + 2400 B / 5000 B/ms.
    expect(plan?.tiers[1]?.predictedMs).toBeCloseTo(0.4 + 1 + 2_400 / 5_000, 6)
    expect(plan?.tiers[1]?.memberMs).toHaveLength(2)
    // 40% of samples reach the edge, 10% the cloud.
    const [edge, cloud] = plan?.tiers ?? []
    expect(plan?.expectedRemoteMs).toBeCloseTo(
      0.4 * (edge?.predictedMs ?? 0) + 0.1 * (cloud?.predictedMs ?? 0),
      6,
    )
    expect(plan?.explanation.length).toBeGreaterThan(2)
  })

  it('sustains what its busiest best member computes, weighted by the samples reaching it', () => {
    const room = [device('aaaaaaaa', 1e6), device('bbbbbbbb', 8e6), device('cccccccc', 2e6)]
    room.push(device('dddddddd', 4e6))
    const plan = planTiers(room, chain)
    // Edge: 1.5M MACs on cccccccc (2M/ms) = 0.75 ms for 40% of samples = 0.3 ms per request;
    // cloud: 3.2M MACs on bbbbbbbb (8M/ms) = 0.4 ms for 10% = 0.04 ms. The edge is the limit.
    expect(plan?.capacityRps).toBeCloseTo(1_000 / 0.3, 6)
    expect(plan?.explanation.join(' ')).toMatch(/cccccccc is busiest \(0\.30 ms.*edge\)/)
  })

  it('adds up a device that serves several tiers', () => {
    const plan = planTiers([device('aaaaaaaa', 1e6)], chain)
    // 0.4 x 1.5 ms + 0.1 x 3.2 ms on the one device.
    expect(plan?.capacityRps).toBeCloseTo(1_000 / (0.4 * 1.5 + 0.1 * 3.2), 6)
  })

  it('plans a room of 50 into a plan every client accepts (explanation lines within their limit)', () => {
    const room = Array.from({ length: 50 }, (_, index) =>
      device(`device${String(index).padStart(2, '0')}xyzw`, 1e6 + index * 1e5),
    )
    const plan = planTiers(room, chain)
    expect(plan?.tiers.map((tier) => tier.members.length)).toEqual([25, 25])
    expect(EarlyExitPlanSchema.safeParse(plan).success).toBe(true)
    expect(plan?.explanation.join(' ')).toMatch(/and 21 more/)
  })

  it('returns null without devices or without remote segments', () => {
    expect(planTiers([], chain)).toBeNull()
    expect(planTiers([device('aaaaaaaa', 1e6)], { ...chain, segments: segments.slice(0, 1) })).toBe(
      null,
    )
  })

  it('reuses devices when there are fewer than tiers, the faster on the later tier', () => {
    const one = planTiers([device('aaaaaaaa', 1e6)], chain)
    expect(one?.tiers.map((tier) => tier.members)).toEqual([['aaaaaaaa'], ['aaaaaaaa']])
    expect(one?.explanation.join(' ')).toMatch(/no backup/)
  })

  it('for any room: every device used once, >= 2 per tier from 4 devices, faster devices later', () => {
    fc.assert(
      fc.property(roomArbitrary(2, 12, segments), (room) => {
        const plan = planTiers(room, chain)
        expect(plan).not.toBeNull()
        const tiers = plan?.tiers ?? []
        expect(tiers.map((tier) => tier.tier)).toEqual(['edge', 'cloud'])
        const used = tiers.flatMap((tier) => tier.members)
        expect([...used].sort()).toEqual(room.map((d) => d.deviceId).sort())
        if (room.length >= 4)
          for (const tier of tiers) expect(tier.members.length).toBeGreaterThan(1)
        const byId = new Map(room.map((d) => [d.deviceId, d]))
        const speeds = (index: number) =>
          (tiers[index]?.members ?? []).map((id) => remoteMs(byId.get(id) as DeviceSpec))
        // Every cloud member is at least as fast as every edge member.
        expect(Math.max(...speeds(1))).toBeLessThanOrEqual(Math.min(...speeds(0)) + 1e-6)
        for (const tier of tiers) {
          expect(tier.memberMs).toHaveLength(tier.members.length)
          // Best member first.
          for (let i = 1; i < tier.memberMs.length; i++)
            expect(tier.memberMs[i]).toBeGreaterThanOrEqual((tier.memberMs[i - 1] ?? 0) - 1e-9)
          expect(tier.predictedMs).toBe(tier.memberMs[0])
        }
      }),
      { numRuns: 300 },
    )
  })

  it('a faster device joining never slows the cloud hop, and plans are deterministic', () => {
    fc.assert(
      fc.property(roomArbitrary(3, 10, segments), (room) => {
        const before = planTiers(room, chain)
        expect(planTiers([...room].reverse(), chain)).toEqual(before)
        const fastest = Math.min(...room.map(remoteMs))
        const newcomer = { ...device('zzzzzzzz', 1e8, 0.01), rttMs: 0.1, bytesPerMs: 1e6 }
        expect(remoteMs(newcomer)).toBeLessThan(fastest)
        const after = planTiers([...room, newcomer], chain)
        expect(after?.tiers[1]?.members[0]).toBe('zzzzzzzz')
        expect(after?.tiers[1]?.predictedMs ?? 0).toBeLessThanOrEqual(
          (before?.tiers[1]?.predictedMs ?? 0) + 1e-9,
        )
      }),
      { numRuns: 200 },
    )
  })

  describe('from the plan in force', () => {
    const tierOf = (plan: ReturnType<typeof planTiers>, id: string) =>
      plan?.tiers.findIndex((tier) => (tier.members as readonly string[]).includes(id)) ?? -1
    const heads = (plan: ReturnType<typeof planTiers>) =>
      plan?.tiers.map((tier) => tier.members[0]) ?? []

    it('changes nothing when nothing changed', () => {
      fc.assert(
        fc.property(roomArbitrary(2, 12, segments), (room) => {
          const plan = planTiers(room, chain)
          expect(planTiers(room, chain, plan)).toEqual(plan)
        }),
        { numRuns: 200 },
      )
    })

    it('places a newcomer of ordinary speed moving at most one device and keeping the cloud head', () => {
      fc.assert(
        fc.property(roomArbitrary(4, 12, segments), (room) => {
          const before = planTiers(room, chain)
          // As fast as the room's slowest: a fresh deal would reshuffle, the plan in force need not.
          const slowest = room.reduce((a, b) => (remoteMs(a) >= remoteMs(b) ? a : b))
          const newcomer = { ...slowest, deviceId: 'zzzzzzzz' }
          const after = planTiers([...room, newcomer], chain, before)
          const sizes = after?.tiers.map((tier) => tier.members.length)
          expect(sizes).toEqual(tierSizes(room.length + 1, 2))
          const moved = room.filter((d) => tierOf(before, d.deviceId) !== tierOf(after, d.deviceId))
          // Evening out the sizes moves at most one device; nobody else goes anywhere.
          expect(moved.length).toBeLessThanOrEqual(1)
          // Links run to the heads of later tiers: those stay (the edge's may move up to the cloud),
          // unless the device moved in is one the head has failed clearly more often than.
          const failure = (id: string | undefined) =>
            room.find((d) => d.deviceId === id)?.failureProbability ?? 0
          heads(after).forEach((head, tier) => {
            const kept = heads(before)[tier]
            if (tier === 0 || head === kept) return
            expect(failure(kept), `tier ${tier}: ${kept} → ${head}`).toBeGreaterThan(
              2 * failure(head) + 0.01,
            )
          })
        }),
        { numRuns: 300 },
      )
    })

    it('after a departure moves at most one device to even the tiers out, and every device serves once', () => {
      fc.assert(
        fc.property(roomArbitrary(5, 12, segments), fc.nat(), (room, pick) => {
          const before = planTiers(room, chain)
          const gone = room[pick % room.length] as DeviceSpec
          const staying = room.filter((d) => d !== gone)
          const after = planTiers(staying, chain, before)
          const used = after?.tiers.flatMap((tier) => tier.members) ?? []
          expect([...used].sort()).toEqual(staying.map((d) => d.deviceId).sort())
          expect(after?.tiers.map((tier) => tier.members.length)).toEqual(
            tierSizes(staying.length, 2),
          )
          const moved = staying.filter(
            (d) => tierOf(before, d.deviceId) !== tierOf(after, d.deviceId),
          )
          expect(moved.length).toBeLessThanOrEqual(1)
        }),
        { numRuns: 300 },
      )
    })

    it('lets a clearly faster newcomer take the cloud head, and always-on devices still take the cloud', () => {
      const room = [1, 2, 3, 4].map((i) => device(`device-${i}`, i * 1e6))
      const before = planTiers(room, chain)
      const fastest = Math.min(...room.map(remoteMs))
      const newcomer = { ...device('zzzzzzzz', 1e8), rttMs: 0.1, bytesPerMs: 1e6 }
      expect(remoteMs(newcomer) * MOVE_GAIN).toBeLessThan(fastest)
      const after = planTiers([...room, newcomer], chain, before)
      expect(after?.tiers[1]?.members[0]).toBe('zzzzzzzz')
      // A Node device joining a room of browsers trades places with a browser in the cloud.
      const node = { ...device('nnnnnnnn', 1e6), alwaysOn: true }
      const withNode = planTiers([...room, node], chain, before)
      expect(tierOf(withNode, 'nnnnnnnn')).toBe(1)
      expect(withNode?.tiers.map((tier) => tier.members.length)).toEqual(tierSizes(5, 2))
    })
  })
})
