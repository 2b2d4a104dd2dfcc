import { expect, type Page, test } from '@playwright/test'
import { exitTable, expectAt } from './early-exit-reference.ts'
import { ensembleReference, loadManifest } from './ensemble-reference.ts'
import {
  type CohortServer,
  createRoomAsHost,
  endTest,
  joinAsDevice,
  type NodeDevices,
  runSamples,
  startCohortServer,
  startNodeDevices,
  waitForEnsembleOf,
} from './harness.ts'

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
interface EarlyExitOutcome {
  index: number
  prediction: number | null
  exitIndex: number | null
  degraded: boolean
  deadlineExit: boolean
  answeredBy: string | null
  error: string | null
}
type Handle = {
  cohort: {
    mesh: {
      plan: {
        profiled: string[]
        earlyExit: { tiers: Tier[] } | null
        ensemble: { groups: { members: string[] }[] } | null
      } | null
    }
    host: {
      runEarlyExit(options: {
        samples: number
        deadlineMs: number
        thresholds?: number[]
      }): Promise<EarlyExitOutcome[]>
      earlyExitStats(): { done: number }
    }
  }
}

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser }, testInfo) => endTest(browser, server, testInfo))

const tiersOf = (page: Page) =>
  page.evaluate(() => (window as unknown as Handle).cohort.mesh.plan?.earlyExit?.tiers ?? [])

test('4 browser devices and 2 Node devices answer 300 early-exit and 300 ensemble samples as the offline reference, the Node devices in the cloud tier; a Node device killed mid-stream loses nothing', async ({
  browser,
}) => {
  test.setTimeout(600_000)
  const manifest = loadManifest(TASK)
  const host = await createRoomAsHost(browser, server)
  await host.page.goto(`${host.page.url()}?task=${TASK}&threads=1`)
  const joinUrl = `${host.joinUrl}?task=${TASK}&threads=1`
  const tabs = []
  for (let i = 0; i < BROWSER_DEVICES; i++) tabs.push(await joinAsDevice(browser, joinUrl))
  // Two processes, so one can be killed alone.
  const nodes: NodeDevices[] = [await startNodeDevices(joinUrl), await startNodeDevices(joinUrl)]
  const nodeIds = nodes.flatMap((node) => node.ids)
  const ids = [...tabs.map((tab) => tab.deviceId), ...nodeIds]
  await waitForEnsembleOf(host.page, ids)

  // Both Node devices are in the cloud tier (with 6 devices and 2 remote tiers: 3 each).
  await expect
    .poll(async () => (await tiersOf(host.page)).flatMap((tier) => tier.members).sort())
    .toEqual([...ids].sort())
  const cloud = (await tiersOf(host.page)).find((tier) => tier.tier === 'cloud')
  expect(cloud?.members).toEqual(expect.arrayContaining(nodeIds))
  // The dashboard says what they are.
  await expect(host.page.getByTestId('peers')).toContainText('Node on')

  // Early exit, every sample to the cloud; the cloud's best member, a Node device (native ORT is
  // several times faster than a tab's WASM here), is killed mid-stream.
  const best = cloud?.members[0] ?? ''
  expect(nodeIds).toContain(best)
  const killed = nodes.find((node) => node.ids[0] === best) as NodeDevices
  const survivor = nodes.find((node) => node !== killed) as NodeDevices
  const table = await exitTable(manifest, SAMPLES)
  const expected = expectAt(manifest, table, NEVER_EXIT, SAMPLES)
  const run = host.page.evaluate(
    (options) => (window as unknown as Handle).cohort.host.runEarlyExit(options),
    { samples: SAMPLES, deadlineMs: 5_000, thresholds: NEVER_EXIT },
  )
  await expect
    .poll(() =>
      host.page.evaluate(() => (window as unknown as Handle).cohort.host.earlyExitStats().done),
    )
    .toBeGreaterThan(50)
  await killed.stop('SIGKILL')
  const outcomes = await run
  expect(outcomes).toHaveLength(SAMPLES)
  expect(outcomes.filter((o) => o.error !== null || o.degraded || o.deadlineExit)).toEqual([])
  expect(
    outcomes.filter(
      (o) =>
        o.exitIndex !== expected.exits[o.index] || o.prediction !== expected.predictions[o.index],
    ),
  ).toEqual([])
  // The killed device answered before it went; the rest were answered by the devices left.
  const answeredBy = outcomes.map((o) => o.answeredBy)
  expect(answeredBy.filter((id) => id === best).length).toBeGreaterThan(0)
  expect(answeredBy.slice(-50).every((id) => id !== best && ids.includes(id ?? ''))).toBe(true)

  // The ensemble on the room without the killed device: every answer equals the reference of
  // the K it was answered with, 8 in flight.
  const rest = ids.filter((id) => id !== killed.ids[0])
  await waitForEnsembleOf(host.page, rest)
  const plan = await host.page.evaluate(() => (window as unknown as Handle).cohort.mesh.plan)
  expect(plan?.ensemble?.groups.flatMap((group) => group.members)).toContain(survivor.ids[0])
  const ensemble = await runSamples(host.page, SAMPLES, { window: 8 })
  expect(ensemble.filter((o) => o.error !== null || o.degraded)).toEqual([])
  const references = new Map<number, number[]>()
  for (const o of ensemble) {
    const k = o.k ?? 0
    if (!references.has(k)) references.set(k, await ensembleReference(manifest, k, SAMPLES))
    expect(o.prediction, `sample ${o.index} (K=${k})`).toBe(references.get(k)?.[o.index])
  }
})
