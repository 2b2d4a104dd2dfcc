import { execFileSync } from 'node:child_process'
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, type Page, test } from '@playwright/test'
import { ensembleReference, loadManifest } from './ensemble-reference.ts'
import {
  type CohortServer,
  createRoomAsHost,
  endTest,
  joinAsDevice,
  runSamples,
  startCohortServer,
} from './harness.ts'

// Someone brings their own models: a folder laid out like public/, checked by `npm run
// check-models`, served by `npm start -- --models <dir>`, chosen on the dashboard by ?task=.
// The folder holds the digits models under a name of its own, so the answers have a reference.
const TASK = 'my-digits'
const PUBLIC = fileURLToPath(new URL('../public/', import.meta.url))
const DEVICES = 4
const SAMPLES = 60

let root: string
let server: CohortServer
test.beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'cohort-own-models-'))
  cpSync(join(PUBLIC, 'models', 'digits'), join(root, 'models', TASK), { recursive: true })
  mkdirSync(join(root, 'data'))
  for (const file of ['test.bin', 'reference.bin'])
    copyFileSync(join(PUBLIC, 'data', `digits-${file}`), join(root, 'data', `${TASK}-${file}`))
  const manifest = join(root, 'models', TASK, 'manifest.json')
  const renamed = readFileSync(manifest, 'utf8')
    .replaceAll('"models/digits/', `"models/${TASK}/`)
    .replaceAll('"data/digits-', `"data/${TASK}-`)
    .replace('"task": "digits"', `"task": "${TASK}"`)
  writeFileSync(manifest, renamed)
})
test.afterEach(async ({ browser }, testInfo) => {
  await endTest(browser, server, testInfo)
  rmSync(root, { recursive: true, force: true })
})

const plannedTask = (page: Page) =>
  page.evaluate(() => {
    const plan = (
      window as unknown as {
        cohort: {
          mesh: {
            plan: {
              task: string
              devices: { deviceId: string }[]
              ensemble: { k: number; groups: { members: string[] }[] } | null
            } | null
          }
        }
      }
    ).cohort.mesh.plan
    return plan
      ? {
          task: plan.task,
          k: plan.ensemble?.k ?? 0,
          members: plan.ensemble?.groups.flatMap((group) => group.members).sort() ?? [],
        }
      : null
  })

test('a folder of your own models is checked, served and planned, and the room answers with it', async ({
  browser,
}) => {
  test.setTimeout(300_000)
  // The check passes on the folder as it is.
  const checked = execFileSync(
    process.execPath,
    ['--import', 'tsx', 'apps/server/src/check-models.ts', root],
    { encoding: 'utf8' },
  )
  expect(checked).toMatch(new RegExp(`^ok {3}${TASK}: 18 models match their sha256`, 'm'))

  server = await startCohortServer({ args: ['--models', root] })
  expect(server.log.join('\n')).toContain(`your models from ${root}: ?task=${TASK}`)
  const host = await createRoomAsHost(browser, server)
  await host.page.goto(`${host.page.url()}?task=${TASK}`)
  const devices = []
  for (let i = 0; i < DEVICES; i++)
    devices.push(await joinAsDevice(browser, `${host.joinUrl}?task=${TASK}`))
  const ids = devices.map((device) => device.deviceId).sort()
  await expect
    .poll(async () => (await plannedTask(host.page))?.members, { timeout: 180_000 })
    .toEqual(ids)
  const plan = await plannedTask(host.page)
  expect(plan?.task).toBe(TASK)

  // Every page fetched the task's files from the folder's paths, never the shipped task's.
  for (const page of [host.page, ...devices.map((device) => device.page)]) {
    const fetched = await page.evaluate(() =>
      performance.getEntriesByType('resource').map((entry) => new URL(entry.name).pathname),
    )
    expect(fetched).toContain(`/models/${TASK}/manifest.json`)
    expect(fetched.filter((path) => path.startsWith('/models/digits/'))).toEqual([])
  }

  const outcomes = await runSamples(host.page, SAMPLES)
  expect(outcomes.filter((outcome) => outcome.error !== null || outcome.degraded)).toEqual([])
  expect(outcomes.map((outcome) => outcome.prediction)).toEqual(
    await ensembleReference(loadManifest('digits'), plan?.k ?? 0, SAMPLES),
  )
})
