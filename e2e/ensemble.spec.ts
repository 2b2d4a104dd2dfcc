import { expect, type Page, test } from '@playwright/test'
import { ensembleReference, loadManifest } from './ensemble-reference.ts'
import { type CohortServer, createRoomAsHost, joinAsDevice, startCohortServer } from './harness.ts'

// The ensemble runs on whichever task has shipped models; fashion is the benchmark task.
const TASK = process.env.COHORT_E2E_TASK ?? 'digits'
const DEVICES = 6

interface HostApi {
  run(options: {
    samples: number
    redundancy: 'all' | 'hedged'
    deadlineMs: number
  }): Promise<
    {
      index: number
      label: number
      prediction: number | null
      degraded: boolean
      missingSlices: number[]
      k: number | null
      error: string | null
    }[]
  >
}
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
test.afterEach(async () => {
  await server.stop()
})

const planOf = (page: Page) =>
  page.evaluate(() => {
    const plan = (
      window as unknown as {
        cohort: { mesh: { plan: { version: number; ensemble: PlanSnapshot | null } | null } }
      }
    ).cohort.mesh.plan
    return plan?.ensemble ? { ...plan.ensemble, version: plan.version } : null
  })

const runSamples = (page: Page, samples: number, deadlineMs = 5_000) =>
  page.evaluate(
    ({ samples, deadlineMs }) =>
      (window as unknown as { cohort: { host: HostApi } }).cohort.host.run({
        samples,
        redundancy: 'all',
        deadlineMs,
      }),
    { samples, deadlineMs },
  )

test('ensemble requests through a room of 6 devices match the offline reference and survive failures', async ({
  browser,
}) => {
  test.setTimeout(600_000)
  const manifest = loadManifest(TASK)
  const host = await createRoomAsHost(browser, server)
  await host.page.goto(`${host.page.url()}?task=${TASK}`)
  const joinUrl = `${host.joinUrl}?task=${TASK}`
  const devices = []
  for (let i = 0; i < DEVICES; i++) devices.push(await joinAsDevice(browser, joinUrl))
  const ids = devices.map((device) => device.deviceId)

  // Every device loads its models, measures its profile and is planned into a group.
  await expect
    .poll(
      async () => (await planOf(host.page))?.groups.flatMap((group) => group.members).sort() ?? [],
      { timeout: 240_000 },
    )
    .toEqual([...ids].sort())
  const plan = (await planOf(host.page)) as PlanSnapshot
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
  expect(second.map((outcome) => outcome.prediction)).toEqual(expected)
})
