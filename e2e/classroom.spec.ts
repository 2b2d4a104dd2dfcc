import { writeFileSync } from 'node:fs'
import { expect, test } from '@playwright/test'
import { formClassroom, plannedLinkCount, tiersOf } from './classroom.ts'
import { ensembleReference, loadManifest } from './ensemble-reference.ts'
import {
  type CohortServer,
  endTest,
  expectEarlyExitAsReference,
  joinAsDevice,
  runningNodeDevices,
  runSamples,
  startCohortServer,
  startNodeDevices,
  waitForEnsembleOf,
  waitForPlannedLinks,
} from './harness.ts'

// A classroom: 50 devices, 8 of them browser pages (3 with a phone's viewport and touch), the
// rest Node devices in a few processes. Links follow the plan, so the room holds O(devices)
// links instead of a full mesh, and it keeps answering while devices leave and join.
const TASK = 'fashion'
const PAGES = 8
const PHONES = 3
/** Node devices by process; the first (4) is killed mid-stream, and as many join. */
const NODE_PROCESSES = [4, 8, 10, 10, 10] as const
const DEVICES = PAGES + NODE_PROCESSES.reduce((sum, count) => sum + count, 0)
/** 10% of the class leaves mid-stream (a page and the first process), and 10% joins. */
const CHURN = 1 + NODE_PROCESSES[0]
const SAMPLES = 300
const WINDOW = 8

let server: CohortServer
test.beforeEach(async () => {
  // Every member connects from 127.0.0.1, which on a LAN would be 50 addresses: the per-address
  // signaling budget must fit the whole class (a NAT'd classroom needs the same).
  server = await startCohortServer({
    args: ['--limits', JSON.stringify({ perAddress: { burst: 50_000, perSecond: 10_000 } })],
  })
})
test.afterEach(async ({ browser }, testInfo) => {
  // The whole server log (joins, profiles, plans, with times): where a classroom's time went.
  writeFileSync(testInfo.outputPath('server.log'), server.log.join('\n'))
  runningNodeDevices().forEach((node, i) => {
    writeFileSync(testInfo.outputPath(`node-devices-${i}.log`), node.log.join(''))
  })
  // The dashboard's view of its links, for a test that failed waiting on them.
  const host = browser.contexts()[0]?.pages()[0]
  const links = await host
    ?.evaluate(() => {
      type Peer = { info: { deviceId: string; role: string }; link: string; retries?: number }
      const mesh = (window as unknown as { cohort?: { mesh?: { peers(): Peer[] } } }).cohort?.mesh
      return mesh?.peers().map((p) => `${p.info.deviceId} ${p.info.role} ${p.link}`) ?? []
    })
    .catch(() => [])
  writeFileSync(testInfo.outputPath('host-links.txt'), (links ?? []).join('\n'))
  await endTest(browser, server, testInfo)
})

test('a classroom of 50 (8 pages, 3 of them phones, and 42 Node devices) links by the plan, answers as the reference and loses nothing while 10% leave and 10% join', async ({
  browser,
}) => {
  test.setTimeout(900_000)
  const manifest = loadManifest(TASK)
  const { host, joinUrl, pages, nodes, ids, timeline } = await formClassroom(browser, server, {
    task: TASK,
    pages: PAGES,
    phones: PHONES,
    nodeProcesses: NODE_PROCESSES,
  })
  expect(new Set(ids).size).toBe(DEVICES)
  // Times are the benchmark's to judge (`npm run bench:scale`); here they are only reported.
  console.info(
    `classroom: ${DEVICES} devices ready in ${(timeline.readyMs / 1000).toFixed(1)} s, first plan at ${(timeline.firstPlanMs / 1000).toFixed(1)} s, all planned at ${(timeline.plannedMs / 1000).toFixed(1)} s (${timeline.planVersions} plan versions), every Node device holding its plan's models at ${(timeline.modelsMs / 1000).toFixed(1)} s, the dashboard linked to all at ${(timeline.linkedMs / 1000).toFixed(1)} s`,
  )

  // Links: the host to every device; each page to the host and its early-exit neighbours only.
  const plan = await tiersOf(host.page)
  const [edge, cloud] = plan?.tiers ?? []
  expect(edge?.members.length).toBeGreaterThanOrEqual(2)
  expect(cloud?.members.length).toBeGreaterThanOrEqual(2)
  for (const page of pages) await waitForPlannedLinks(page.page, ids)
  // Between devices: the plan's rule, which the pages just showed they follow (Node devices use
  // the same code).
  const links = plannedLinkCount(DEVICES, plan?.tiers ?? [])
  console.info(
    `classroom: ${links} links (${DEVICES} host + ${links - DEVICES} between tiers), ${(links / DEVICES).toFixed(2)} per device; a full mesh would hold ${((DEVICES + 1) * DEVICES) / 2}`,
  )
  expect(links / DEVICES).toBeLessThanOrEqual(3)

  // 300 ensemble samples, 8 in flight: each equals the reference of the K it was answered with.
  const references = new Map<number, number[]>()
  const expectReference = async (outcomes: Awaited<ReturnType<typeof runSamples>>) => {
    for (const o of outcomes) {
      const k = o.k ?? 0
      if (!references.has(k)) references.set(k, await ensembleReference(manifest, k, SAMPLES))
      expect(o.prediction, `sample ${o.index} (K=${k})`).toBe(references.get(k)?.[o.index])
    }
  }
  const ensemble = await runSamples(host.page, SAMPLES, { window: WINDOW })
  expect(ensemble.filter((o) => o.error !== null || o.degraded)).toEqual([])
  await expectReference(ensemble)

  // 300 early-exit samples at the calibrated thresholds: exits and answers as the reference.
  await expectEarlyExitAsReference(host.page, manifest, SAMPLES)

  // Churn during 300 more: 5 join (a page and a process of 4) and 5 leave (a page closed, a
  // process of 4 Node devices killed) while the stream runs; nothing is lost.
  expect(CHURN).toBe(DEVICES / 10)
  const joiningNow = Promise.all([
    joinAsDevice(browser, joinUrl),
    startNodeDevices(joinUrl, ['--devices', String(NODE_PROCESSES[0])]),
  ])
  const stream = runSamples(host.page, SAMPLES, { window: WINDOW })
  await expect
    .poll(() => host.page.getByTestId('run-stats').getAttribute('data-done').then(Number))
    .toBeGreaterThan(50)
  const leavingPage = pages[PAGES - 1]
  await leavingPage?.context.close()
  await nodes[0]?.stop('SIGKILL')
  const joining = await joiningNow
  const churned = await stream
  expect(churned.filter((o) => o.error !== null)).toEqual([])
  // Degraded answers (a group whose members all left mid-request) are allowed, never wrong ones.
  await expectReference(churned.filter((o) => !o.degraded))
  expect(joining[1].ids).toHaveLength(NODE_PROCESSES[0])
  // The room is planned with the newcomers and without those who left.
  const after = [
    ...ids.filter((id) => id !== leavingPage?.deviceId && !nodes[0]?.ids.includes(id)),
    joining[0].deviceId,
    ...joining[1].ids,
  ]
  expect(after).toHaveLength(DEVICES)
  await waitForEnsembleOf(host.page, after)
})
