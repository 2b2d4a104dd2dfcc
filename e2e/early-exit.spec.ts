import { quantile } from '@cohort/protocol'
import { type Browser, expect, type Page, test } from '@playwright/test'
import { type ExitTable, exitTable, expectAt, thresholdsForShares } from './early-exit-reference.ts'
import { loadManifest } from './ensemble-reference.ts'
import {
  type CohortServer,
  createRoomAsHost,
  endTest,
  joinAsDevice,
  startCohortServer,
} from './harness.ts'

// Early exit runs on whichever task has shipped models; fashion is the benchmark task.
const TASK = process.env.COHORT_E2E_TASK ?? 'fashion'
const DEVICES = 4
/** Thresholds no confidence reaches: every sample goes to the cloud. */
const NEVER_EXIT = [2, 2]

interface Outcome {
  index: number
  label: number
  prediction: number | null
  exitIndex: number | null
  reason: string | null
  degraded: boolean
  deadlineExit: boolean
  answeredBy: string | null
  segments: { segment: number; deviceId: string | null; computeMs: number; hopMs: number | null }[]
  bytes: number
  failovers: number
  planVersion: number | null
  latencyMs: number
  mobileMs: number | null
  error: string | null
}
interface Tier {
  tier: 'edge' | 'cloud'
  segment: string
  members: string[]
  predictedMs: number
}
interface HostApi {
  runEarlyExit(options: {
    samples: number
    deadlineMs: number
    thresholds?: number[]
    start?: number
  }): Promise<Outcome[]>
  earlyExitStats(): { done: number }
  predictEarlyExit(
    thresholds: number[],
  ): Promise<{ accuracy: number; costReduction: number; source: string } | null>
}
type Window = {
  cohort: {
    host: HostApi
    mesh: {
      plan: { version: number; earlyExit: { tiers: Tier[]; thresholds: number[] } | null } | null
      peers(): { info: { deviceId: string }; rttMs: number | null }[]
    }
  }
}

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser }, testInfo) => endTest(browser, server, testInfo))

const tiersOf = (page: Page) =>
  page.evaluate(() => (window as unknown as Window).cohort.mesh.plan?.earlyExit?.tiers ?? null)

const runEarlyExit = (
  page: Page,
  options: { samples: number; deadlineMs: number; thresholds?: number[]; start?: number },
) =>
  page.evaluate(
    (options) => (window as unknown as Window).cohort.host.runEarlyExit(options),
    options,
  )

const doneSoFar = (page: Page) =>
  page.evaluate(() => (window as unknown as Window).cohort.host.earlyExitStats().done)

/** A host and `DEVICES` devices, once every device is planned into a tier. */
async function room(browser: Browser) {
  const host = await createRoomAsHost(browser, server)
  // One WASM thread per page: five pages share two cores.
  await host.page.goto(`${host.page.url()}?task=${TASK}&threads=1`)
  const joinUrl = `${host.joinUrl}?task=${TASK}&threads=1`
  const devices: Awaited<ReturnType<typeof joinAsDevice>>[] = []
  for (let i = 0; i < DEVICES; i++) devices.push(await joinAsDevice(browser, joinUrl))
  const ids = devices.map((device) => device.deviceId)
  await expect
    .poll(async () => (await tiersOf(host.page))?.flatMap((tier) => tier.members).sort() ?? [], {
      timeout: 240_000,
    })
    .toEqual([...ids].sort())
  const tiers = (await tiersOf(host.page)) as Tier[]
  const pageOf = (id: string) => {
    const device = devices[ids.indexOf(id)]
    if (!device) throw new Error(`no page for ${id}`)
    return device
  }
  return { host, devices, ids, tiers, pageOf }
}

const sameAsReference = (
  outcomes: Outcome[],
  expected: { exits: number[]; predictions: number[] },
) =>
  outcomes
    .map((o) => [o.index, o.exitIndex, o.prediction])
    .filter(([index, exit, prediction]) => {
      const i = index as number
      return exit !== expected.exits[i] || prediction !== expected.predictions[i]
    })

let table: ExitTable | null = null
const referenceTable = async () => {
  const manifest = loadManifest(TASK)
  table ??= await exitTable(manifest, manifest.data.sample.count)
  return table
}

test('early exit through mobile / edge / cloud tiers matches the offline reference and the calibrated figures', async ({
  browser,
}) => {
  test.setTimeout(600_000)
  const manifest = loadManifest(TASK)
  const reference = await referenceTable()
  const { host, ids, tiers } = await room(browser)
  // Faster devices take later tiers; with 4 devices every remote tier has a backup.
  expect(tiers.map((tier) => tier.tier)).toEqual(['edge', 'cloud'])
  expect(tiers.every((tier) => tier.members.length >= 2)).toBe(true)
  expect(tiers.flatMap((tier) => tier.members).sort()).toEqual([...ids].sort())
  await expect(host.page.getByTestId('tiers')).toBeVisible()

  // The whole shipped sample (>= 500) at the calibrated thresholds: every exit index and
  // prediction equals the reference; the dashboard shows the manifest's calibrated figures.
  const count = manifest.data.sample.count
  expect(count).toBeGreaterThanOrEqual(500)
  const calibrated = expectAt(manifest, reference, manifest.earlyExit.thresholds, count)
  const all = await runEarlyExit(host.page, { samples: count, deadlineMs: 5_000 })
  expect(all).toHaveLength(count)
  expect(all.filter((o) => o.error !== null || o.degraded || o.deadlineExit)).toEqual([])
  expect(sameAsReference(all, calibrated)).toEqual([])
  await host.page.getByTestId('mode').selectOption('early-exit')
  const stats = host.page.getByTestId('ee-stats')
  await expect(stats).toHaveAttribute('data-done', String(count))
  const shownAccuracy = Number(await stats.getAttribute('data-accuracy'))
  const shownReduction = Number(await stats.getAttribute('data-cost-reduction'))
  const claimed = manifest.earlyExit.calibrated
  expect(Math.abs(shownAccuracy - claimed.accuracy.sample)).toBeLessThan(0.05 + 1e-9)
  expect(Math.abs(shownReduction - claimed.costReduction.sample)).toBeLessThan(5e-4 + 1e-9)
  expect((await stats.getAttribute('data-exit-counts'))?.split(',').map(Number)).toEqual(
    claimed.exitFractions.sample.map((share) => Math.round(share * count)),
  )

  // 500 samples at thresholds that send about 40 / 30 / 30% to each exit, so every tier works:
  // still sample for sample the reference, and the figures the dashboard predicts for them.
  const thresholds = thresholdsForShares(reference, [0.4, 0.3], 500)
  const mixed = expectAt(manifest, reference, thresholds, 500)
  expect(mixed.exitCounts.every((n) => n > 50)).toBe(true)
  const outcomes = await runEarlyExit(host.page, { samples: 500, deadlineMs: 5_000, thresholds })
  expect(outcomes.filter((o) => o.error !== null || o.degraded || o.deadlineExit)).toEqual([])
  expect(sameAsReference(outcomes, mixed)).toEqual([])
  // Whoever finished answered: the requester, an edge member or a cloud member, per exit.
  const [edge, cloud] = tiers
  for (const o of outcomes) {
    const expected =
      o.exitIndex === 0 ? ['self'] : o.exitIndex === 1 ? edge?.members : cloud?.members
    expect(expected).toContain(o.answeredBy)
    expect(o.segments.map((s) => s.segment)).toEqual(
      Array.from({ length: (o.exitIndex ?? 0) + 1 }, (_, i) => i + 1),
    )
    if ((o.exitIndex ?? 0) > 0) expect(o.bytes).toBeGreaterThan(0)
  }
  await expect(stats).toHaveAttribute('data-done', '500')
  expect(Number(await stats.getAttribute('data-accuracy'))).toBeCloseTo(mixed.accuracy, 6)
  expect(Number(await stats.getAttribute('data-cost-reduction'))).toBeCloseTo(
    mixed.costReduction,
    6,
  )
  expect((await stats.getAttribute('data-exit-counts'))?.split(',').map(Number)).toEqual(
    mixed.exitCounts,
  )

  // The threshold override's prediction: for the manifest's thresholds its calibrated figures; for
  // others, measured on this page over the whole shipped sample, equal to the offline figures.
  const predict = (alphas: number[]) =>
    host.page.evaluate((a) => (window as unknown as Window).cohort.host.predictEarlyExit(a), alphas)
  expect(await predict(manifest.earlyExit.thresholds)).toMatchObject({
    source: 'manifest',
    accuracy: claimed.accuracy.sample,
    costReduction: claimed.costReduction.sample,
  })
  const whole = expectAt(manifest, reference, thresholds, count)
  const predicted = await predict(thresholds)
  expect(predicted?.source).toBe('measured')
  expect(predicted?.accuracy).toBeCloseTo(whole.accuracy, 6)
  expect(predicted?.costReduction).toBeCloseTo(whole.costReduction, 6)
})

test('an edge device closed mid-stream loses nothing; both edge devices closed give degraded answers from segment 1', async ({
  browser,
}) => {
  test.setTimeout(600_000)
  const manifest = loadManifest(TASK)
  const reference = await referenceTable()
  const { host, tiers, pageOf } = await room(browser)
  const [firstEdge, otherEdge] = tiers[0]?.members ?? []
  if (!firstEdge || !otherEdge) throw new Error('the edge tier needs two members')
  const toCloud = expectAt(manifest, reference, NEVER_EXIT, 300)

  // Every sample goes through the edge to the cloud; the best edge member is closed mid-stream.
  const run = runEarlyExit(host.page, { samples: 300, deadlineMs: 5_000, thresholds: NEVER_EXIT })
  await expect.poll(() => doneSoFar(host.page)).toBeGreaterThan(50)
  const closing = await doneSoFar(host.page)
  await pageOf(firstEdge).context.close()
  const closedAt = await doneSoFar(host.page)
  const outcomes = await run
  expect(outcomes).toHaveLength(300)
  expect(outcomes.filter((o) => o.error !== null || o.degraded || o.deadlineExit)).toEqual([])
  expect(sameAsReference(outcomes, toCloud)).toEqual([])
  const edgeOf = (o: Outcome) => o.segments[1]?.deviceId
  expect(outcomes.slice(0, closing).every((o) => edgeOf(o) === firstEdge)).toBe(true)
  // After the close, nothing reaches the closed device: requests on the plan they started with
  // were re-routed to the other edge device; those on the re-formed plan use its edge tier.
  const after = outcomes.slice(closedAt + 1)
  expect(after.filter((o) => edgeOf(o) === firstEdge)).toEqual([])
  const firstPlan = outcomes[0]?.planVersion ?? 0
  expect(
    after.filter((o) => o.planVersion === firstPlan && edgeOf(o) !== otherEdge).map((o) => o.index),
  ).toEqual([])
  const rerouted = outcomes
    .slice(closing)
    .filter((o) => o.failovers > 0 && o.planVersion === firstPlan)
  expect(rerouted.every((o) => edgeOf(o) === otherEdge)).toBe(true)
  console.info(
    `edge closed after ${closing} samples: ${rerouted.length} re-sent to the other edge, ${outcomes.filter((o) => o.planVersion !== firstPlan).length} on a re-formed plan`,
  )

  // Both edge devices of the plan in force are closed mid-stream: answers come from segment 1 on
  // the requester, marked degraded, until the coordinator re-forms the tiers; nothing hangs or is
  // lost, and every other answer still equals the reference.
  await expect
    .poll(async () => (await tiersOf(host.page))?.flatMap((tier) => tier.members) ?? [])
    .not.toContain(firstEdge)
  const current = (await tiersOf(host.page)) as Tier[]
  const edges = current[0]?.members ?? []
  expect(edges.length).toBeGreaterThan(0)
  const degradedRun = runEarlyExit(host.page, {
    samples: 300,
    deadlineMs: 5_000,
    thresholds: NEVER_EXIT,
  })
  await expect.poll(() => doneSoFar(host.page)).toBeGreaterThan(30)
  await Promise.all(edges.map((id) => pageOf(id).context.close()))
  const second = await degradedRun
  expect(second).toHaveLength(300)
  expect(second.filter((o) => o.error !== null)).toEqual([])
  const degraded = second.filter((o) => o.degraded)
  expect(degraded.length).toBeGreaterThan(0)
  for (const o of second) {
    expect(o.latencyMs).toBeLessThan(5_000)
    if (o.degraded) {
      expect([o.exitIndex, o.answeredBy]).toEqual([0, 'self'])
      expect(o.prediction).toBe(reference.predictions[0]?.[o.index])
    } else {
      expect([o.exitIndex, o.prediction]).toEqual([
        toCloud.exits[o.index],
        toCloud.predictions[o.index],
      ])
    }
  }
  console.info(
    `both edges closed: ${degraded.length}/300 degraded, max ${Math.max(...second.map((o) => o.latencyMs)).toFixed(0)} ms`,
  )
})

test('a tight deadline produces deadline-exits, each answer within the deadline plus one round trip', async ({
  browser,
}) => {
  test.setTimeout(600_000)
  const { host } = await room(browser)
  // The chain as it runs here and now, every sample to the cloud with time to spare.
  const probe = await runEarlyExit(host.page, {
    samples: 100,
    deadlineMs: 5_000,
    thresholds: NEVER_EXIT,
  })
  expect(probe.filter((o) => o.error !== null || o.deadlineExit || o.degraded)).toEqual([])
  const mobileMs = quantile(
    probe.map((o) => o.mobileMs ?? 0),
    0.5,
  )
  const fullMs = quantile(
    probe.map((o) => o.latencyMs),
    0.5,
  )
  // One round trip: edge to cloud and back, as the edge measured it moments before — the longest
  // one: this machine's two cores are shared by five pages (and whatever else runs), so a page's
  // timers can fire tens of ms late, and that is what a round trip costs here.
  const roundTrip = Math.max(1, ...probe.map((o) => o.segments[2]?.hopMs ?? 0))
  // A third of the way through the remote part of the chain: the cloud hop does not fit.
  const deadlineMs = Math.max(1, Math.round(mobileMs + 0.35 * (fullMs - mobileMs)))
  const slowMobile = (o: Outcome) => (o.mobileMs ?? 0) > deadlineMs
  // The requester cannot answer sooner than its own event loop runs: on two shared cores a page's
  // loop can stall for tens of ms. Measure the worst stall during the run (a 5 ms timer's lateness)
  // and allow it on top of the bound; the deadline logic itself gets no slack.
  await host.page.evaluate(() => {
    const state = { worstLagMs: 0, last: performance.now() }
    ;(window as unknown as { e2eLag: typeof state }).e2eLag = state
    setInterval(() => {
      const now = performance.now()
      state.worstLagMs = Math.max(state.worstLagMs, now - state.last - 5)
      state.last = now
    }, 5)
  })
  const outcomes = await runEarlyExit(host.page, {
    samples: 200,
    deadlineMs,
    thresholds: NEVER_EXIT,
  })
  const worstLagMs = await host.page.evaluate(
    () => (window as unknown as { e2eLag: { worstLagMs: number } }).e2eLag.worstLagMs,
  )
  expect(outcomes.filter((o) => o.error !== null)).toEqual([])
  const deadlineExits = outcomes.filter((o) => o.deadlineExit)
  console.info(
    `probe: segment 1 ${mobileMs.toFixed(2)} ms, chain ${fullMs.toFixed(2)} ms, round trip ${roundTrip.toFixed(2)} ms; deadline ${deadlineMs} ms: ${deadlineExits.length}/${outcomes.length} deadline-exits (${outcomes.filter(slowMobile).length} with segment 1 alone past the deadline), exits ${[0, 1, 2].map((e) => outcomes.filter((o) => o.exitIndex === e).length).join('/')}, latency p50 ${quantile(
      outcomes.map((o) => o.latencyMs),
      0.5,
    ).toFixed(2)} max ${Math.max(...outcomes.map((o) => o.latencyMs)).toFixed(2)} ms`,
  )
  expect(deadlineExits.length).toBeGreaterThan(outcomes.length / 3)
  // A requester whose segment 1 outlasted the deadline does not hop.
  expect(outcomes.filter((o) => slowMobile(o) && o.exitIndex !== 0)).toEqual([])
  // A deadline-exit never comes from the cloud, and answers from the cloud are never late.
  expect(deadlineExits.every((o) => (o.exitIndex ?? 2) < 2)).toBe(true)
  // No exit exists before segment 1 has run: a request whose segment 1 alone outlasted the
  // deadline (a starved page) must answer from it at once, without a hop.
  const late = outcomes.filter(
    (o) => o.latencyMs > Math.max(deadlineMs, o.mobileMs ?? 0) + roundTrip + worstLagMs,
  )
  expect(
    late.map((o) => [o.index, o.latencyMs.toFixed(2), o.mobileMs?.toFixed(2), o.reason]),
    `worst event-loop stall of the requester during the run: ${worstLagMs.toFixed(1)} ms`,
  ).toEqual([])
})
