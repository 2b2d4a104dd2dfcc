import { expect, type Page, test } from '@playwright/test'
import { exitTable, expectAt } from './early-exit-reference.ts'
import { ensembleReference, loadManifest } from './ensemble-reference.ts'
import {
  type CohortServer,
  createRoomAsHost,
  endTest,
  expectEarlyExitAsReference,
  heldModels,
  joinAsDevice,
  modelsMisplaced,
  type NodeDevices,
  runSamples,
  startCohortServer,
  startNodeDevices,
  waitForEnsembleOf,
} from './harness.ts'
import type { PageApi } from './page-api.ts'

// A room of browser tabs and Node devices (`npm run device`): the Node devices are always on, so
// the planner gives them the cloud tier; answers are the offline reference's either way.
const TASK = 'fashion'
const BROWSER_DEVICES = 4
const SAMPLES = 300
/** Thresholds no confidence reaches: every sample goes to the cloud tier. */
const NEVER_EXIT = [2, 2]

interface Tier {
  tier: 'edge' | 'cloud'
  members: string[]
}
type Handle = {
  cohort: {
    mesh: {
      plan: {
        devices: { deviceId: string }[]
        earlyExit: { tiers: Tier[] } | null
        ensemble: { groups: { members: string[] }[] } | null
      } | null
    }
    host: PageApi['host'] & { earlyExitStats(): { done: number } }
  }
}

type HostPeers = { cohort: { mesh: { peers(): unknown[] } } }

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser }, testInfo) => endTest(browser, server, testInfo))

const tiersOf = (page: Page) =>
  page.evaluate(() => (window as unknown as Handle).cohort.mesh.plan?.earlyExit?.tiers ?? [])

test('4 browser devices and 2 Node devices answer 300 early-exit and 300 ensemble samples as the offline reference, the Node devices in the cloud tier; the Node devices killed mid-stream lose nothing', async ({
  browser,
}) => {
  test.setTimeout(600_000)
  const manifest = loadManifest(TASK)
  const host = await createRoomAsHost(browser, server)
  await host.page.goto(`${host.page.url()}?task=${TASK}&threads=1`)
  const joinUrl = `${host.joinUrl}?task=${TASK}&threads=1`
  const tabs: Awaited<ReturnType<typeof joinAsDevice>>[] = []
  for (let i = 0; i < BROWSER_DEVICES; i++) tabs.push(await joinAsDevice(browser, joinUrl))
  // The second Node device emulates one twice as slow: the dashboard must say so.
  const nodes: NodeDevices[] = [
    await startNodeDevices(joinUrl),
    await startNodeDevices(joinUrl, ['--slowdown', '2']),
  ]
  const nodeIds = nodes.flatMap((node) => node.ids)
  const ids = [...tabs.map((tab) => tab.deviceId), ...nodeIds]
  await waitForEnsembleOf(host.page, ids)
  // Tabs and Node devices alike hold what the plan assigns them, and at most their bound.
  await expect.poll(() => modelsMisplaced(host.page, { processes: nodes, pages: tabs })).toEqual([])

  // Both Node devices are in the cloud tier (with 6 devices and 2 remote tiers: 3 each).
  await expect
    .poll(async () => (await tiersOf(host.page)).flatMap((tier) => tier.members).sort())
    .toEqual([...ids].sort())
  const cloud = (await tiersOf(host.page)).find((tier) => tier.tier === 'cloud')
  expect(cloud?.members).toEqual(expect.arrayContaining(nodeIds))
  // The dashboard says what they are.
  await expect(host.page.getByTestId('peers')).toContainText('Node on')
  // …and so does the room view, from what the plan knew of each device.
  const room = host.page.getByTestId('room')
  for (const [index, id] of nodeIds.entries()) {
    const member = room.locator(`li[data-member="${id}"]`).first()
    await expect(member).toHaveAttribute('data-platform', 'node')
    await expect(member).toHaveAttribute('data-slowdown', index === 1 ? '2' : '1')
    if (index === 1) await expect(member).toContainText('2× slower (emulated)')
  }
  for (const tab of tabs)
    await expect(room.locator(`li[data-member="${tab.deviceId}"]`).first()).toHaveAttribute(
      'data-platform',
      'browser',
    )

  // The ensemble, 8 in flight: every answer equals the reference of the K it was answered with.
  const ensemble = await runSamples(host.page, SAMPLES, { window: 8 })
  expect(ensemble.filter((o) => o.error !== null || o.degraded)).toEqual([])
  const references = new Map<number, number[]>()
  for (const o of ensemble) {
    const k = o.k ?? 0
    if (!references.has(k)) references.set(k, await ensembleReference(manifest, k, SAMPLES))
    expect(o.prediction, `sample ${o.index} (K=${k})`).toBe(references.get(k)?.[o.index])
  }

  // Early exit, every sample to the cloud tier; both Node devices are killed mid-stream (the
  // cloud's third member, a tab, is left).
  const expected = expectAt(manifest, await exitTable(manifest, SAMPLES), NEVER_EXIT, SAMPLES)
  const cloudTier = async () =>
    (await tiersOf(host.page)).find((tier) => tier.tier === 'cloud')?.members ?? []
  const cloudAtStart = await cloudTier()
  const run = host.page.evaluate(
    (options) => (window as unknown as Handle).cohort.host.runEarlyExit(options),
    { samples: SAMPLES, deadlineMs: 5_000, thresholds: NEVER_EXIT },
  )
  await expect
    .poll(() =>
      host.page.evaluate(() => (window as unknown as Handle).cohort.host.earlyExitStats().done),
    )
    .toBeGreaterThan(50)
  // The cloud tier as planned when the run started and at the kill (a report may replan between).
  const cloudMembers = [...cloudAtStart, ...(await cloudTier())]
  for (const node of nodes) await node.stop('SIGKILL')
  const outcomes = await run
  expect(outcomes).toHaveLength(SAMPLES)
  expect(outcomes.filter((o) => o.error !== null || o.degraded || o.deadlineExit)).toEqual([])
  expect(
    outcomes.filter(
      (o) =>
        o.exitIndex !== expected.exits[o.index] || o.prediction !== expected.predictions[o.index],
    ),
  ).toEqual([])
  // Every sample reached the last segment (the exits above): on the cloud tier's best member
  // until the kill (a Node device, or a tab when the host measured a faster link to it: the plan
  // ranks members by measured hop cost), then on the tabs the room was planned with after.
  const answeredBy = outcomes.map((o) => o.answeredBy ?? '')
  expect(answeredBy.every((id) => ids.includes(id))).toBe(true)
  expect(answeredBy.slice(0, 50).every((id) => cloudMembers.includes(id))).toBe(true)
  expect(answeredBy.slice(-50).some((id) => nodeIds.includes(id))).toBe(false)
})

test('a fleet of 12 Node devices in 3 processes forms, is planned, answers as the reference through every tier, and leaves cleanly on Ctrl-C', async ({
  browser,
}) => {
  test.setTimeout(300_000)
  const manifest = loadManifest(TASK)
  const host = await createRoomAsHost(browser, server)
  await host.page.goto(`${host.page.url()}?task=${TASK}&threads=1`)
  const fleet = await startNodeDevices(`${host.joinUrl}?task=${TASK}`, [
    '--devices',
    '12',
    '--per-process',
    '4',
  ])
  expect(new Set(fleet.ids).size).toBe(12)
  // The fleet's summary follows its last device's ready line.
  await expect
    .poll(() => fleet.log.join(''))
    .toMatch(/12 devices serving in 3 processes; RSS [\d.]+ MiB, [\d.]+ MiB per device/)
  await waitForEnsembleOf(host.page, fleet.ids)

  const ensemble = await runSamples(host.page, 100, { window: 8 })
  const references = new Map<number, number[]>()
  for (const o of ensemble) {
    expect(o.error).toBeNull()
    const k = o.k ?? 0
    if (!references.has(k)) references.set(k, await ensembleReference(manifest, k, 100))
    expect(o.prediction, `sample ${o.index} (K=${k})`).toBe(references.get(k)?.[o.index])
  }
  // Every sample through every tier: edge devices hop to cloud devices over the plan's links.
  await expectEarlyExitAsReference(host.page, manifest, 100, NEVER_EXIT)

  // Models follow the plan: every device holds the models its plan assigns it, and no more than
  // its bound of the task's 18 (the first device of each process loaded one of each twin set to
  // profile on, the others nothing until their plan).
  await expect.poll(() => modelsMisplaced(host.page, { processes: [fleet] })).toEqual([])
  const held = [...heldModels(fleet).values()].map((models) => models.length)
  expect(held.every((n) => n < manifest.models.length)).toBe(true)
  console.info(
    `fleet: ${(held.reduce((sum, n) => sum + n, 0) / held.length).toFixed(1)} models held per device on average (of ${manifest.models.length})`,
  )

  // Ctrl-C: every process leaves the room, and the dashboard sees all twelve go.
  await fleet.stop('SIGINT')
  await expect
    .poll(() =>
      host.page.evaluate(() => (window as unknown as HostPeers).cohort.mesh.peers().length),
    )
    .toBe(0)
  // …as devices that left, not as lost connections.
  const log = server.log.join('\n')
  expect(fleet.ids.filter((id) => !log.includes(`/${id} left`))).toEqual([])
})
