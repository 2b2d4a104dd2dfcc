import type { DeviceId } from '@cohort/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { inferCloudOnly } from './early-exit-cloud-only.ts'
import { costModelFromManifest, requestCost, summarizeEarlyExit } from './early-exit-cost.ts'
import { exitFor, predictThresholds } from './early-exit-profile.ts'
import { type EarlyExitAnswer, inferEarlyExit } from './early-exit-requester.ts'
import {
  decideHop,
  decodeHopAnswer,
  exitConfidence,
  type HopAnswer,
  hopAnswerPayload,
  nextHopMs,
  parseHopParams,
  routeForWire,
} from './early-exit-rules.ts'
import { earlyExitServer } from './early-exit-server.ts'
import { OutcomeTracker } from './outcome-tracker.ts'
import {
  FakeRoom,
  fakeClass,
  fakeInput,
  fakeManifest,
  fakePlan,
  fakeRunner,
} from './testing/early-exit-fakes.ts'

const id = (name: string) => name as DeviceId
const EDGE = [id('edge0000'), id('edge1111')]
const CLOUD = [id('cloud000'), id('cloud111')]
const HOST = id('host0000')

describe('exit rule and deadline rule', () => {
  it('computes max softmax in float64', () => {
    expect(exitConfidence([0, 0, 0, 0])).toBeCloseTo(0.25, 12)
    // A float32 softmax would say exactly 1 here.
    expect(exitConfidence([30, 0])).toBeLessThan(1)
    expect(exitConfidence([30, 0])).toBeGreaterThan(1 - 1e-12)
    expect(exitConfidence([Math.log(3), 0])).toBeCloseTo(0.75, 12)
  })

  it('exits when confident, at the last exit, without a next tier, or before a missed deadline', () => {
    const facts = {
      confidence: 0.6,
      threshold: 0.5 as number | undefined,
      hasNextTier: true,
      elapsedMs: 1,
      budgetMs: 10,
      nextHopMs: 2,
    }
    expect(decideHop(facts)).toEqual({ action: 'exit', reason: 'confident' })
    expect(decideHop({ ...facts, confidence: 0.5 })).toEqual({
      action: 'exit',
      reason: 'confident',
    })
    expect(decideHop({ ...facts, threshold: undefined, confidence: 0 })).toEqual({
      action: 'exit',
      reason: 'last-exit',
    })
    expect(decideHop({ ...facts, confidence: 0.4 })).toEqual({ action: 'forward' })
    expect(decideHop({ ...facts, confidence: 0.4, hasNextTier: false })).toEqual({
      action: 'exit',
      reason: 'degraded',
    })
    expect(decideHop({ ...facts, confidence: 0.4, nextHopMs: 9.5 })).toEqual({
      action: 'exit',
      reason: 'deadline-exit',
    })
    expect(decideHop({ ...facts, confidence: 0.4, nextHopMs: 9 })).toEqual({ action: 'forward' })
    // The next hop: the plan's prediction for the best member plus its link's measured round trip.
    const tier = { members: EDGE, memberMs: [1.5, 3] }
    expect(nextHopMs(tier, (id) => (id === EDGE[0] ? 4 : null))).toBe(5.5)
    expect(nextHopMs(tier, () => null)).toBe(1.5)
    expect(nextHopMs(undefined, () => 4)).toBe(0)
  })

  it('round-trips hop parameters and answers, and rejects malformed ones', () => {
    const params = {
      segment: 2,
      min: -0.125,
      scale: Math.fround(0.1),
      thresholds: [0.2762745044505964, 0.36180954018910116],
      budgetMs: 12.5,
      route: [{ members: CLOUD, memberMs: [1.25, 2.5] }],
    }
    // Through the wire: JSON in the request's meta.
    const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value))
    expect(parseHopParams(wire(params), 3)).toEqual(params)
    expect(parseHopParams(wire({ ...params, segment: 1 }), 3)).toMatch(/segment/)
    expect(parseHopParams(wire({ ...params, segment: 4 }), 3)).toMatch(/segment/)
    expect(parseHopParams(wire({ ...params, route: 'x' }), 3)).toMatch(/route/)
    expect(parseHopParams(wire({ ...params, thresholds: [0.2] }), 3)).toMatch(/thresh/)
    expect(parseHopParams(wire({ ...params, scale: 0 }), 3)).toMatch(/scale/)
    expect(parseHopParams(wire({ ...params, extra: 1 }), 3)).toMatch(/bad hop parameters/)
    expect(parseHopParams(undefined, 3)).toMatch(/bad hop parameters/)
    // A tier of a classroom travels whole (the old 4-member cap is gone), up to the wire's bound.
    const members = (n: number) =>
      Array.from({ length: n }, (_, i) => `device${String(i).padStart(3, '0')}` as DeviceId)
    const wide = {
      ...params,
      route: [{ members: members(40), memberMs: members(40).map(() => 1) }],
    }
    expect(parseHopParams(wire(wide), 3)).toEqual(wide)
    const tooWide = [{ members: members(65), memberMs: members(65).map(() => 1) }]
    expect(parseHopParams(wire({ ...params, route: tooWide }), 3)).toMatch(/route/)
    expect(routeForWire(tooWide)[0]?.members).toHaveLength(64)
    const mismatched = [{ members: members(2), memberMs: [1] }]
    expect(parseHopParams(wire({ ...params, route: mismatched }), 3)).toMatch(/one predicted ms/)
    const answer: HopAnswer = {
      logits: new Float32Array(10),
      exitIndex: 2,
      confidence: 0.9,
      reason: 'last-exit',
      depth: 1,
      member: 1,
      computeMs: { 2: 0.5, 3: 0.75 },
      hopMs: { 3: 1.5 },
      bytes: 100,
      offloads: 1,
      failovers: 0,
    }
    const sent = wire(hopAnswerPayload(answer))
    expect(decodeHopAnswer(answer.logits, sent, 2, 3, 10)).toEqual(answer)
    expect(decodeHopAnswer(answer.logits, sent, 2, 3, 9)).toMatch(/logits/)
    const answered = (change: object) => wire({ ...hopAnswerPayload(answer), ...change })
    expect(decodeHopAnswer(answer.logits, answered({ exitIndex: 0 }), 2, 3, 10)).toMatch(/exit/)
    expect(decodeHopAnswer(answer.logits, answered({ reason: 'bored' }), 2, 3, 10)).toMatch(
      /reason/,
    )
    expect(decodeHopAnswer(answer.logits, answered({ bytes: -1 }), 2, 3, 10)).toMatch(/bytes/)
    expect(decodeHopAnswer(answer.logits, undefined, 2, 3, 10)).toMatch(/bad hop answer/)
  })
})

describe('cost accounting', () => {
  const cost = costModelFromManifest(fakeManifest())

  it('charges MACs of every segment run plus one offload per hop', () => {
    expect(requestCost(cost, 1, 0)).toBe(1)
    expect(requestCost(cost, 2, 1)).toBe(1 + 2 + 5)
    expect(requestCost(cost, 3, 2)).toBe(1 + 2 + 4 + 10)
  })

  it('sums a run: accuracy, exit shares, reduction versus cloud-only, bytes', () => {
    const request = (exitIndex: number, correct: boolean) => ({
      exitIndex,
      correct,
      cost: requestCost(cost, exitIndex + 1, exitIndex),
      bytes: exitIndex * 100,
      offloads: exitIndex,
      failovers: 0,
      degraded: false,
      deadlineExit: exitIndex === 1,
      macsPerSegment: cost.segmentMacs.map((macs, i) => (i <= exitIndex ? macs : 0)),
    })
    const summary = summarizeEarlyExit(cost, [
      request(0, true),
      request(0, true),
      request(1, false),
      request(2, true),
    ])
    expect(summary.accuracy).toBe(75)
    expect(summary.exitCounts).toEqual([2, 1, 1])
    expect(summary.exitFractions).toEqual([0.5, 0.25, 0.25])
    expect(summary.meanCost).toBe((1 + 1 + 8 + 17) / 4)
    expect(summary.costReduction).toBeCloseTo(1 - 6.75 / 12, 12)
    expect(summary.bytes).toBe(300)
    expect(summary.deadlineExits).toBe(1)
    expect(summary.macsPerSegment).toEqual([4_000_000, 4_000_000, 4_000_000])
    expect(summarizeEarlyExit(cost, []).costReduction).toBeNull()
  })

  it('predicts any thresholds from per-exit confidences', () => {
    const profile = {
      labels: Uint8Array.of(1, 2, 3),
      confidences: [
        Float64Array.of(0.9, 0.3, 0.2),
        Float64Array.of(0.9, 0.8, 0.3),
        Float64Array.of(1, 1, 1),
      ],
      predictions: [Uint8Array.of(1, 0, 0), Uint8Array.of(1, 2, 0), Uint8Array.of(1, 2, 3)],
    }
    expect(exitFor([0.9, 0.9, 1], [0.95, 0.95])).toBe(2)
    const calibrated = predictThresholds(profile, [0.5, 0.5], cost)
    expect(calibrated.exitFractions).toEqual([1 / 3, 1 / 3, 1 / 3])
    expect(calibrated.accuracy).toBe(100)
    expect(calibrated.expectedCost).toBeCloseTo((1 + 8 + 17) / 3, 12)
    const eager = predictThresholds(profile, [0, 0], cost)
    expect(eager.accuracy).toBeCloseTo(100 / 3, 12)
    expect(eager.costReduction).toBeCloseTo(1 - 1 / 12, 12)
  })
})

describe('early-exit chain (requester, edge and cloud tiers in memory)', () => {
  const manifest = fakeManifest()
  let room: FakeRoom
  const timers: (() => void)[] = []
  afterEach(() => {
    for (const dispose of timers.splice(0)) dispose()
  })

  const setUp = (computeMs = 0.5) => {
    room = new FakeRoom()
    const runners = new Map<DeviceId, ReturnType<typeof fakeRunner>>()
    for (const device of [...EDGE, ...CLOUD]) {
      const runner = fakeRunner(computeMs)
      runners.set(device, runner)
      room.handlers.set(
        device,
        earlyExitServer({
          manifest,
          runner,
          request: room.requestFrom(device),
          rttMs: () => 0.5,
          self: () => device,
          // Every segment loaded: holding one costs nothing.
          models: { hold: async () => () => {} },
        }),
      )
    }
    const tracker = new OutcomeTracker()
    const ask = (
      exitSegment: number,
      options: { deadlineMs?: number; plan?: ReturnType<typeof fakePlan> } = {},
    ) =>
      inferEarlyExit(
        { request: room.requestFrom(HOST), runner: fakeRunner(computeMs), manifest, tracker },
        options.plan ?? fakePlan(EDGE, CLOUD),
        fakeInput(exitSegment),
        { deadlineMs: options.deadlineMs ?? 2_000 },
      )
    return { ask, runners, tracker }
  }

  const value = (outcome: Awaited<ReturnType<typeof inferEarlyExit>>): EarlyExitAnswer => {
    if (!outcome.ok) throw outcome.error
    return outcome.value
  }

  it('exits on the requester, the edge or the cloud, with per-hop timings, bytes and cost', async () => {
    const { ask, runners } = setUp()
    const mobile = value(await ask(1))
    expect(mobile).toMatchObject({ exitIndex: 0, reason: 'confident', answeredBy: null, bytes: 0 })
    expect(mobile.prediction).toBe(fakeClass(1))
    expect(mobile.cost).toBe(1)

    const edge = value(await ask(2))
    expect(edge).toMatchObject({
      exitIndex: 1,
      reason: 'confident',
      answeredBy: EDGE[0],
      offloads: 1,
    })
    expect(edge.prediction).toBe(fakeClass(2))
    // h1 is 16 values: 16 uint8 + 8 bytes of min/scale out, 10 float32 logits back.
    expect(edge.bytes).toBe(16 + 8 + 40)
    expect(edge.segments.map((s) => [s.segment, s.deviceId])).toEqual([
      [1, null],
      [2, EDGE[0]],
    ])
    expect(edge.segments[1]?.computeMs).toBe(0.5)
    expect(edge.segments[1]?.hopMs).toBeGreaterThanOrEqual(0)

    const cloud = value(await ask(3))
    expect(cloud).toMatchObject({
      exitIndex: 2,
      reason: 'last-exit',
      answeredBy: CLOUD[0],
      offloads: 2,
    })
    expect(cloud.bytes).toBe(16 + 8 + 40 + 32 + 8 + 40)
    expect(cloud.segments.map((s) => [s.segment, s.deviceId])).toEqual([
      [1, null],
      [2, EDGE[0]],
      [3, CLOUD[0]],
    ])
    expect(cloud.cost).toBe(1 + 2 + 4 + 10)
    expect(cloud.macsPerSegment).toEqual([1_000_000, 2_000_000, 4_000_000])

    const last = value(await ask(4))
    expect(last).toMatchObject({ exitIndex: 2, reason: 'last-exit', degraded: false })
    expect(runners.get(EDGE[1] as DeviceId)?.runs.size).toBe(0)
  })

  it('fails over to the other member of a tier when one is gone or silent', async () => {
    const { ask, tracker } = setUp()
    room.states.set(EDGE[0] as DeviceId, 'dead')
    room.states.set(CLOUD[0] as DeviceId, 'silent')
    const startedAt = performance.now()
    const answer = value(await ask(3, { deadlineMs: 60_000 }))
    expect(answer).toMatchObject({
      exitIndex: 2,
      reason: 'last-exit',
      degraded: false,
      answeredBy: CLOUD[1],
      failovers: 2,
    })
    expect(answer.segments.map((s) => s.deviceId)).toEqual([null, EDGE[1], CLOUD[1]])
    // The silent cloud member was passed over after its ack window, not at the (distant) deadline.
    expect(performance.now() - startedAt).toBeLessThan(60_000)
    expect(tracker.drain().find((o) => o.deviceId === EDGE[0])).toMatchObject({ misses: 1 })
  })

  it('answers degraded with the best exit at hand when a tier has no member left', async () => {
    const { ask } = setUp()
    for (const edge of EDGE) room.states.set(edge, 'dead')
    const fromMobile = value(await ask(2))
    expect(fromMobile).toMatchObject({ exitIndex: 0, reason: 'degraded', degraded: true })
    expect(fromMobile.answeredBy).toBeNull()
    for (const edge of EDGE) room.states.set(edge, 'up')
    for (const cloud of CLOUD) room.states.set(cloud, 'dead')
    const fromEdge = value(await ask(3))
    expect(fromEdge).toMatchObject({ exitIndex: 1, reason: 'degraded', answeredBy: EDGE[0] })
    const empty = value(await ask(2, { plan: fakePlan([], []) }))
    expect(empty).toMatchObject({ exitIndex: 0, reason: 'degraded' })
  })

  it('exits early when the next hop would miss the deadline, and answers by the deadline', async () => {
    const { ask } = setUp()
    // Hops predicted at 30 ms against a 20 ms deadline: the requester answers itself.
    const early = value(await ask(3, { deadlineMs: 20, plan: fakePlan(EDGE, CLOUD, 30) }))
    expect(early).toMatchObject({ exitIndex: 0, reason: 'deadline-exit', deadlineExit: true })
    // Every member silent: the answer still comes at the deadline, from segment 1.
    for (const device of [...EDGE, ...CLOUD]) room.states.set(device, 'silent')
    const startedAt = performance.now()
    const late = value(await ask(3, { deadlineMs: 100 }))
    const took = performance.now() - startedAt
    expect(late).toMatchObject({ exitIndex: 0, reason: 'deadline-exit' })
    // Not before the deadline; how soon after it depends on the machine's load, so no upper bound.
    expect(took).toBeGreaterThanOrEqual(95)
  })

  it('gives a tier up once every member missed its ack window: degraded, long before the deadline', async () => {
    const { ask, tracker } = setUp()
    for (const edge of EDGE) room.states.set(edge, 'silent')
    const startedAt = performance.now()
    const answer = value(await ask(3, { deadlineMs: 10_000 }))
    const took = performance.now() - startedAt
    expect(answer).toMatchObject({ exitIndex: 0, reason: 'degraded', failovers: 1 })
    // Each edge member's window covers its hop and the cloud tier failing over (250 + 2 x 250 ms).
    expect(took).toBeGreaterThanOrEqual(1_400)
    expect(took).toBeLessThan(10_000) // given up long before the deadline
    // Each silent member is counted as missed exactly once.
    expect(tracker.drain().map((o) => [o.deviceId, o.misses])).toEqual([
      [EDGE[0], 1],
      [EDGE[1], 1],
    ])
  })

  it('an edge whose cloud hop would miss the budget answers with its own exit', async () => {
    const { ask } = setUp()
    const plan = fakePlan(EDGE, CLOUD, 1)
    const tiers = plan.earlyExit?.tiers ?? []
    const slowCloud = {
      ...plan,
      earlyExit: {
        ...(plan.earlyExit as NonNullable<typeof plan.earlyExit>),
        tiers: [tiers[0], { ...tiers[1], memberMs: [500, 500], predictedMs: 500 }],
      },
    } as typeof plan
    const answer = value(await ask(3, { deadlineMs: 200, plan: slowCloud }))
    expect(answer).toMatchObject({ exitIndex: 1, reason: 'deadline-exit', answeredBy: EDGE[0] })
  })

  it('a device in two tiers serves the later segment itself, without the network', async () => {
    const { ask, runners } = setUp()
    const only = EDGE[0] as DeviceId
    const answer = value(await ask(3, { plan: fakePlan([only], [only]) }))
    expect(answer).toMatchObject({ exitIndex: 2, answeredBy: only, offloads: 1 })
    expect(answer.bytes).toBe(16 + 8 + 40)
    expect(room.received.get(only)).toBe(1)
    expect(runners.get(only)?.runs.get('segment-3')).toBe(1)
  })

  it('cloud-only runs the whole backbone on one device and costs what the manifest says', async () => {
    const { runners } = setUp()
    const cloud = CLOUD[0] as DeviceId
    const outcome = await inferCloudOnly(
      room.requestFrom(HOST),
      manifest,
      cloud,
      fakeInput(1),
      1_000,
    )
    if (!outcome.ok) throw outcome.error
    expect(outcome.value.prediction).toBe(fakeClass(1))
    expect(outcome.value.bytes).toBe(16 + 40)
    expect(outcome.value.cost).toBe(manifest.earlyExit.cost.cloudOnly)
    expect(Object.keys(outcome.value.computeMs)).toEqual(['1', '2', '3'])
    expect([...(runners.get(cloud)?.runs.values() ?? [])]).toEqual([1, 1, 1])
    expect(room.received.get(cloud)).toBe(1)
  })

  it('ends a cancelled request with a cancelled error', async () => {
    setUp()
    const controller = new AbortController()
    controller.abort()
    const outcome = await inferEarlyExit(
      {
        request: room.requestFrom(HOST),
        runner: fakeRunner(),
        manifest,
        tracker: new OutcomeTracker(),
      },
      fakePlan(EDGE, CLOUD),
      fakeInput(3),
      { deadlineMs: 100, signal: controller.signal },
    )
    expect(outcome.ok ? null : outcome.error.code).toBe('cancelled')
  })
})
