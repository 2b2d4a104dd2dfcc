import { type Browser, expect, type Page, test } from '@playwright/test'
import { ensembleReference, loadManifest, sampleInputs } from './ensemble-reference.ts'
import {
  type CohortServer,
  createRoomAsHost,
  endTest,
  joinAsDevice,
  newMemberContext,
  runSamples,
  startCohortServer,
  waitForEnsembleOf,
} from './harness.ts'

// Two requesters at once: the dashboard, and the examples/drop-image page, which joins through the
// SDK (`/client.js`) as a requester. Both stream the shipped samples through one room.
const TASK = 'fashion'
const DEVICES = 6
const SAMPLES = 300
const WINDOW = 8

interface GroupSnapshot {
  slice: number
  members: string[]
}
interface PlanSnapshot {
  version: number
  devices: { deviceId: string }[]
  ensemble: { k: number; groups: GroupSnapshot[] } | null
}
/** One outcome as both requesters report it here: the answer's prediction and K, or the error. */
interface Seen {
  index: number
  prediction: number | null
  k: number | null
  degraded: boolean
  error: string | null
}

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser }, testInfo) => endTest(browser, server, testInfo))

const planOf = (page: Page) =>
  page.evaluate(
    () =>
      (window as unknown as { cohort: { mesh: { plan: PlanSnapshot | null } } }).cohort.mesh.plan,
  )

/** Opens the example page on the room `code` and waits until it is a planned requester. */
async function openExample(browser: Browser, code: string): Promise<Page> {
  const context = await newMemberContext(browser)
  const page = await context.newPage()
  await page.goto(`${server.url}/examples/drop-image/index.html?room=${code}`)
  await expect(page.getByTestId('status')).toContainText('Ready', { timeout: 180_000 })
  return page
}

/** Streams the first SAMPLES samples from the example page, WINDOW in flight. */
function streamFromExample(page: Page, redundancy: 'all' | 'hedged'): Promise<Seen[]> {
  const inputs = sampleInputs(loadManifest(TASK), SAMPLES)
  return page.evaluate(
    async ({ inputs, window: inFlight, redundancy }) => {
      type Outcome =
        | { ok: true; value: { prediction: number; k: number; degraded: boolean } }
        | { ok: false; error: { code: string; message: string } }
      const room = (
        window as unknown as {
          cohortExample: {
            stream(inputs: Float32Array[], options: Record<string, unknown>): AsyncIterable<Outcome>
          }
        }
      ).cohortExample
      const seen = []
      let index = 0
      const stream = room.stream(
        inputs.map((input) => Float32Array.from(input)),
        { mode: 'ensemble', redundancy, window: inFlight, deadlineMs: 5_000 },
      )
      for await (const outcome of stream) {
        seen.push(
          outcome.ok
            ? {
                index: index++,
                prediction: outcome.value.prediction,
                k: outcome.value.k,
                degraded: outcome.value.degraded,
                error: null,
              }
            : {
                index: index++,
                prediction: null,
                k: null,
                degraded: false,
                error: `${outcome.error.code}: ${outcome.error.message}`,
              },
        )
      }
      return seen
    },
    { inputs, window: WINDOW, redundancy },
  )
}

test('the dashboard and an app page stream 300 samples each, 8 in flight, through one room; a member of each group closed mid-stream loses nothing, all members and hedged', async ({
  browser,
}) => {
  test.setTimeout(600_000)
  const manifest = loadManifest(TASK)
  const host = await createRoomAsHost(browser, server)
  const code = host.joinUrl.split('/r/')[1]?.split('?')[0] ?? ''
  const devices = []
  for (let i = 0; i < DEVICES; i++) devices.push(await joinAsDevice(browser, host.joinUrl))
  const ids = devices.map((device) => device.deviceId)
  await waitForEnsembleOf(host.page, ids)
  const app = await openExample(browser, code)
  // The coordinator knows it as a requester: the dashboard lists it, the planner leaves it out.
  await expect(host.page.getByTestId('requesters')).toContainText(
    'drop-an-image example (requester)',
  )
  const appId = await app.evaluate(
    () => (window as unknown as { cohortExample: { deviceId: string } }).cohortExample.deviceId,
  )
  expect((await planOf(host.page))?.devices.map((device) => device.deviceId)).not.toContain(appId)

  const references = new Map<number, number[]>()
  const expectReference = async (who: string, outcomes: readonly Seen[]) => {
    expect(outcomes, who).toHaveLength(SAMPLES)
    expect(
      outcomes.filter((outcome) => outcome.error !== null),
      who,
    ).toEqual([])
    expect(
      outcomes.filter((outcome) => outcome.degraded),
      who,
    ).toEqual([])
    for (const outcome of outcomes) {
      // A member lost may re-plan the room to another K mid-stream: each answer equals the
      // offline reference of the K it was answered with.
      const k = outcome.k ?? 0
      if (!references.has(k)) references.set(k, await ensembleReference(manifest, k, SAMPLES))
      expect(outcome.prediction, `${who} sample ${outcome.index} (K=${k})`).toBe(
        references.get(k)?.[outcome.index],
      )
    }
  }
  const hostDone = () =>
    host.page.evaluate(
      () =>
        (
          window as unknown as { cohort: { host: { stats(): { done: number } } } }
        ).cohort.host.stats().done,
    )

  // Both at once, all members asked; one member of every group closed mid-stream. Then hedged,
  // once the room is re-formed without them.
  const closed: string[] = []
  for (const redundancy of ['all', 'hedged'] as const) {
    await expect
      .poll(async () =>
        (await planOf(host.page))?.ensemble?.groups.some((group) =>
          group.members.some((member) => closed.includes(member)),
        ),
      )
      .toBe(false)
    const plan = await planOf(host.page)
    const groups = plan?.ensemble?.groups ?? []
    // Every group has a partner for the member that goes (else answers would be degraded).
    expect(groups.length, `plan: ${JSON.stringify(plan)}`).toBeGreaterThan(0)
    const victims =
      redundancy === 'all'
        ? groups.map((group) => group.members[0] as string)
        : // Hedged, on the re-formed room: one member of a group that still has a partner.
          groups
            .filter((group) => group.members.length >= 2)
            .map((group) => group.members[0] as string)
            .slice(0, 1)
    if (redundancy === 'all') expect(groups.every((group) => group.members.length >= 2)).toBe(true)
    expect(victims, `plan: ${JSON.stringify(plan)}`).toHaveLength(
      redundancy === 'all' ? groups.length : 1,
    )
    expect(victims.every((victim) => ids.includes(victim))).toBe(true)
    const fromApp = streamFromExample(app, redundancy)
    const fromHost = runSamples(host.page, SAMPLES, { window: WINDOW, redundancy })
    await expect.poll(hostDone).toBeGreaterThan(50)
    // The app's stream is mid-flight too when the members go.
    expect(
      await app.evaluate(
        () => (window as unknown as { cohortExample: { inFlight: number } }).cohortExample.inFlight,
      ),
    ).toBeGreaterThan(0)
    for (const victim of victims) {
      await devices[ids.indexOf(victim)]?.context.close()
      closed.push(victim)
    }
    await expectReference(`app (${redundancy})`, await fromApp)
    await expectReference(
      `dashboard (${redundancy})`,
      (await fromHost).map((outcome) => ({ ...outcome })),
    )
  }
})
