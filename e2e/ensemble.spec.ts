import { type Browser, expect, type Page, test } from '@playwright/test'
import { ensembleReference, loadManifest } from './ensemble-reference.ts'
import {
  type CohortServer,
  createRoomAsHost,
  endTest,
  joinAsDevice,
  runSamples,
  startCohortServer,
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
            plan: { version: number; profiled: string[]; ensemble: PlanSnapshot | null } | null
          }
        }
      }
    ).cohort.mesh.plan
    return plan?.ensemble
      ? { ...plan.ensemble, version: plan.version, profiled: [...plan.profiled].sort() }
      : null
  })

/**
 * A host and DEVICES devices on TASK, once every device is planned into a group; with `k`, the
 * dashboard's URL pins the ensemble's K.
 */
async function plannedRoom(browser: Browser, k?: number) {
  const host = await createRoomAsHost(browser, server)
  await host.page.goto(`${host.page.url()}?task=${TASK}${k === undefined ? '' : `&k=${k}`}`)
  const devices = []
  for (let i = 0; i < DEVICES; i++)
    devices.push(await joinAsDevice(browser, `${host.joinUrl}?task=${TASK}`))
  const ids = devices.map((device) => device.deviceId)
  // Every device loads its models, measures its profile and is planned into a group, by a plan
  // made from every device's measured profile (earlier plans place unprofiled devices by default).
  await expect
    .poll(
      async () => {
        const plan = await planOf(host.page)
        return {
          members: plan?.groups.flatMap((group) => group.members).sort() ?? [],
          profiled: plan?.profiled ?? [],
        }
      },
      { timeout: 240_000 },
    )
    .toEqual({ members: [...ids].sort(), profiled: [...ids].sort() })
  return { host, devices, ids, plan: (await planOf(host.page)) as PlanSnapshot }
}

test('ensemble requests through a room of 6 devices match the offline reference and survive failures', async ({
  browser,
}) => {
  test.setTimeout(600_000)
  const manifest = loadManifest(TASK)
  const { host, devices, ids, plan } = await plannedRoom(browser)
  expect(plan.explanation.length).toBeGreaterThan(0)
  expect(plan.groups.every((group) => group.members.length >= 2)).toBe(true)

  // 300 samples: every prediction equals the offline reference for the planned K.
  const expected = await ensembleReference(manifest, plan.k, 300)
  const first = await runSamples(host.page, 300)
  expect(first.filter((outcome) => outcome.error !== null)).toEqual([])
  expect(first.filter((outcome) => outcome.degraded)).toEqual([])
  expect(first.map((outcome) => outcome.prediction)).toEqual(expected)

  // One member of every group closed mid-stream: nothing lost, nothing degraded.
  const victims = plan.groups.map((group) => group.members[0] as string)
  const run = runSamples(host.page, 300)
  await expect
    .poll(() =>
      host.page.evaluate(
        () =>
          (
            window as unknown as { cohort: { host: { stats(): { done: number } } } }
          ).cohort.host.stats().done,
      ),
    )
    .toBeGreaterThan(50)
  for (const victim of victims) await devices[ids.indexOf(victim)]?.context.close()
  const second = await run
  expect(second).toHaveLength(300)
  expect(second.filter((outcome) => outcome.error !== null)).toEqual([])
  expect(second.filter((outcome) => outcome.degraded)).toEqual([])
  // Losing a member of every group may re-plan the room to another K mid-run (the survivors cannot
  // keep every group backed up): each answer equals the offline reference of the K it came from.
  const references = new Map([[plan.k, expected]])
  for (const outcome of second) {
    const k = outcome.k ?? 0
    if (!references.has(k)) references.set(k, await ensembleReference(manifest, k, 300))
    expect(outcome.prediction, `sample ${outcome.index} (K=${k})`).toBe(
      references.get(k)?.[outcome.index],
    )
  }
})

test('a silent group degrades answers without a hang, the room re-forms, and the dashboard reports the manifest accuracy', async ({
  browser,
}) => {
  test.setTimeout(600_000)
  const manifest = loadManifest(TASK)
  // K = 2 pinned: a silent group needs another group beside it (the planner may choose K = 1).
  const { host, devices, ids, plan } = await plannedRoom(browser, 2)
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
  expect(outcomes[0]).toMatchObject({ degraded: true, missingSlices: [silent.slice], k: plan.k })
  const references = new Map<string, number[]>()
  for (const outcome of outcomes) {
    if (outcome.degraded) expect(outcome.missingSlices).toEqual([silent.slice])
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
