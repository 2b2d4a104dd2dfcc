import { type Browser, expect, type Page, test } from '@playwright/test'
import { ensembleReference, loadManifest } from './ensemble-reference.ts'
import {
  type CohortServer,
  createRoomAsHost,
  endTest,
  joinAsDevice,
  runSamples,
  startCohortServer,
  waitForEnsembleOf,
} from './harness.ts'

// Fashion-MNIST is the benchmark task; COHORT_E2E_TASK=digits runs the same checks on MNIST.
const TASK = process.env.COHORT_E2E_TASK ?? 'fashion'
const DEVICES = 6

interface PlanSnapshot {
  version: number
  k: number
  groups: { slice: number; members: string[] }[]
  explanation: string[]
}

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser }, testInfo) => endTest(browser, server, testInfo))

const planOf = (page: Page) =>
  page.evaluate(() => {
    const plan = (
      window as unknown as {
        cohort: {
          mesh: {
            plan: {
              version: number
              devices: { deviceId: string }[]
              ensemble: PlanSnapshot | null
            } | null
          }
        }
      }
    ).cohort.mesh.plan
    return plan?.ensemble
      ? {
          ...plan.ensemble,
          version: plan.version,
          profiled: plan.devices.map((device) => device.deviceId).sort(),
        }
      : null
  })

/**
 * A host and DEVICES devices on TASK, once every device is planned into a group; with `k`, the
 * dashboard's URL pins the ensemble's K; with `linksMeasured`, once the plan prices every link at
 * its measured round trip and bandwidth.
 */
async function plannedRoom(browser: Browser, k?: number, linksMeasured = false) {
  const host = await createRoomAsHost(browser, server)
  await host.page.goto(`${host.page.url()}?task=${TASK}${k === undefined ? '' : `&k=${k}`}`)
  const devices = []
  for (let i = 0; i < DEVICES; i++)
    devices.push(await joinAsDevice(browser, `${host.joinUrl}?task=${TASK}`))
  const ids = devices.map((device) => device.deviceId)
  await waitForEnsembleOf(host.page, ids, { linksMeasured })
  return { host, devices, ids, plan: (await planOf(host.page)) as PlanSnapshot }
}

/** The requests finished so far in the dashboard's running ensemble run. */
const doneSoFar = (page: Page) =>
  page.evaluate(
    () =>
      (window as unknown as { cohort: { host: { stats(): { done: number } } } }).cohort.host.stats()
        .done,
  )

test('ensemble requests, 8 in flight, through a room of 6 devices match the offline reference and survive failures, all members and hedged', async ({
  browser,
}) => {
  test.setTimeout(600_000)
  const manifest = loadManifest(TASK)
  const { host, devices, ids, plan } = await plannedRoom(browser)
  expect(plan.explanation.length).toBeGreaterThan(0)
  expect(plan.groups.every((group) => group.members.length >= 2)).toBe(true)
  const references = new Map<number, number[]>()
  const expectReference = async (outcomes: Awaited<ReturnType<typeof runSamples>>) => {
    expect(outcomes).toHaveLength(300)
    expect(outcomes.filter((outcome) => outcome.error !== null)).toEqual([])
    expect(outcomes.filter((outcome) => outcome.degraded)).toEqual([])
    expect(outcomes.map((outcome) => outcome.index)).toEqual([...Array(300).keys()])
    // Losing members may re-plan the room to another K mid-run (the survivors cannot keep every
    // group backed up): each answer equals the offline reference of the K it came from.
    for (const outcome of outcomes) {
      const k = outcome.k ?? 0
      if (!references.has(k)) references.set(k, await ensembleReference(manifest, k, 300))
      expect(outcome.prediction, `sample ${outcome.index} (K=${k})`).toBe(
        references.get(k)?.[outcome.index],
      )
    }
  }

  // 300 samples, 8 in flight: every prediction equals the offline reference for the planned K.
  const first = await runSamples(host.page, 300, { window: 8 })
  expect(first.every((outcome) => outcome.k === plan.k)).toBe(true)
  await expectReference(first)

  // One member of every group closed mid-stream: nothing lost, nothing degraded.
  const victims = plan.groups.map((group) => group.members[0] as string)
  const run = runSamples(host.page, 300, { window: 8 })
  await expect.poll(() => doneSoFar(host.page)).toBeGreaterThan(50)
  for (const victim of victims) await devices[ids.indexOf(victim)]?.context.close()
  await expectReference(await run)

  // Hedged, 8 in flight, on the room re-formed without them: a member of a group that still has
  // two is closed mid-stream; the hedge (or the failover when its request fails) answers for it.
  await expect
    .poll(async () =>
      (await planOf(host.page))?.groups.some((group) =>
        group.members.some((member) => victims.includes(member)),
      ),
    )
    .toBe(false)
  const reformed = await planOf(host.page)
  const backedUp = reformed?.groups.find((group) => group.members.length >= 2)
  expect(backedUp, `re-formed plan: ${JSON.stringify(reformed)}`).toBeDefined()
  const hedged = runSamples(host.page, 300, { window: 8, redundancy: 'hedged' })
  await expect.poll(() => doneSoFar(host.page)).toBeGreaterThan(50)
  await devices[ids.indexOf(backedUp?.members[0] as string)]?.context.close()
  await expectReference(await hedged)
})

test('a silent group degrades answers without a hang, the room re-forms, and the dashboard reports the manifest accuracy', async ({
  browser,
}) => {
  test.setTimeout(600_000)
  const manifest = loadManifest(TASK)
  // K = 2 pinned: a silent group needs another group beside it (the planner may choose K = 1).
  // The groups must hold still before one is frozen: wait for every link to be measured (a
  // first measurement regroups; freezing members of a group about to change froze the wrong one).
  const { host, devices, ids, plan } = await plannedRoom(browser, 2, true)
  expect(plan.k, `plan: ${JSON.stringify(plan)}\n${server.log.slice(-30).join('\n')}`).toBe(2)
  expect(plan.explanation[0]).toBe('K=2 is pinned by the host.')

  // Freeze every member of one group: their sockets stay up (the coordinator does not notice),
  // but they answer nothing. No request is lost: each answer is either degraded on exactly that
  // slice, or comes from a plan the coordinator re-formed from the host's failure reports.
  const silent = plan.groups[0] as PlanSnapshot['groups'][number]
  const frozen = []
  for (const member of silent.members) {
    const device = devices[ids.indexOf(member)]
    if (!device) throw new Error(`no page for ${member}`)
    const cdp = await device.context.newCDPSession(device.page)
    await cdp.send('Debugger.enable')
    await cdp.send('Debugger.pause')
    frozen.push(device)
  }
  const samples = 40
  const outcomes = await runSamples(host.page, samples, { deadlineMs: 1_000 })
  expect(outcomes.filter((outcome) => outcome.error !== null)).toEqual([])
  // The first request meets the silent group before any failure report: it must be degraded.
  expect(outcomes[0]).toMatchObject({
    degraded: true,
    missingSlices: [silent.slice],
    k: plan.k,
    planVersion: plan.version,
  })
  const references = new Map<string, number[]>()
  for (const outcome of outcomes) {
    if (outcome.degraded) {
      expect(
        outcome.missingSlices,
        `sample ${outcome.index} under plan v${outcome.planVersion} (frozen under v${plan.version})\n${server.log.slice(-20).join('\n')}`,
      ).toEqual([silent.slice])
    }
    const key = `${outcome.k}:${outcome.missingSlices.join(',')}`
    if (!references.has(key)) {
      references.set(
        key,
        await ensembleReference(manifest, outcome.k ?? 0, samples, outcome.missingSlices),
      )
    }
    expect(outcome.prediction, `sample ${outcome.index} (${key})`).toBe(
      references.get(key)?.[outcome.index],
    )
  }

  // The frozen pages go away for good: the room is re-planned without them within 2 s.
  for (const device of frozen) await device.context.close()
  const survivors = ids.filter((id) => !silent.members.includes(id)).sort()
  await expect
    .poll(
      async () => (await planOf(host.page))?.groups.flatMap((group) => group.members).sort() ?? [],
      { timeout: 2_000 },
    )
    .toEqual(survivors)

  // The whole shipped sample through the re-formed room: the dashboard shows the manifest's accuracy.
  const reformed = (await planOf(host.page)) as PlanSnapshot
  const all = await runSamples(host.page, manifest.data.sample.count)
  expect(all.filter((outcome) => outcome.error !== null || outcome.degraded)).toEqual([])
  const claimed = manifest.ensembles.find((set) => set.k === reformed.k)?.accuracy.sample
  const shown = Number(await host.page.getByTestId('run-stats').getAttribute('data-accuracy'))
  expect(Math.abs(shown - (claimed ?? Number.NaN))).toBeLessThan(0.05 + 1e-9)
})
