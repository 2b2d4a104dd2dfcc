import { expect, test } from './fixtures.ts'
import {
  type CohortServer,
  createRoomAsHost,
  echoAll,
  endTest,
  freeze,
  joinAsDevice,
  startCohortServer,
  waitForModelsReady,
  waitForPlannedLinks,
} from './harness.ts'

const ONE_MIB_OF_FLOATS = (1024 * 1024) / 4
const DEVICES = 4

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser, hostBrowser }, testInfo) =>
  endTest([browser, hostBrowser], server, testInfo),
)

test('devices join by the dashboard URL, talk peer to peer, notice departures and resume after reload', async ({
  browser,
  hostBrowser,
}) => {
  const host = await createRoomAsHost(hostBrowser, server)
  expect(host.joinUrl).toMatch(new RegExp(`^${server.url}/r/[0-9A-Z]{13}$`))

  const devices = []
  for (let i = 0; i < DEVICES; i++) devices.push(await joinAsDevice(browser, host.joinUrl))
  const ids = devices.map((device) => device.deviceId)
  expect(new Set(ids).size).toBe(DEVICES)

  // The host holds a data channel to every device; a device, to the host and to the devices its
  // plan names (its early-exit neighbours), not to every other device.
  for (const device of devices) await waitForModelsReady(device.page)
  const linked = []
  for (const device of devices) linked.push(await waitForPlannedLinks(device.page, ids))
  await expect(host.page.getByTestId('devices').locator('tr[data-peer]')).toHaveCount(DEVICES)
  for (const id of ids)
    await expect(host.page.locator(`tr[data-peer="${id}"]`)).toHaveAttribute('data-link', 'open')
  // 4 devices in 2 tiers of 2: each links to the host and the 2 of the other tier, none to its
  // own tier's other member: 4 + 4 links instead of the full mesh's 4 + 6.
  expect(linked.map((peers) => peers.length)).toEqual([3, 3, 3, 3])

  // A 1 MiB float32 tensor from each device comes back byte-identical from every linked peer.
  for (const [index, device] of devices.entries()) {
    const outcomes = await echoAll(device.page, ONE_MIB_OF_FLOATS)
    expect(outcomes.map((outcome) => outcome.peer).sort()).toEqual(linked[index])
    for (const outcome of outcomes)
      expect(outcome, JSON.stringify(outcome)).toMatchObject({ identical: true, error: null })
  }

  // A closed page is reported gone by everyone else within 3 s.
  const [closing, ...staying] = devices as [(typeof devices)[0], ...typeof devices]
  await closing.context.close()
  for (const page of [host.page, ...staying.map((device) => device.page)]) {
    await expect(page.locator(`tr[data-peer="${closing.deviceId}"][data-link="open"]`)).toHaveCount(
      0,
      { timeout: 3_000 },
    )
  }

  // A reloaded device page regains its id and its links.
  const [reloading] = staying as [(typeof staying)[0]]
  await reloading.page.reload()
  await expect(reloading.page.getByTestId('status')).toHaveAttribute('data-state', 'joined')
  await expect(reloading.page.getByTestId('device-id')).toHaveText(reloading.deviceId)
  await waitForPlannedLinks(
    reloading.page,
    staying.map((device) => device.deviceId),
  )
  const afterReload = await echoAll(reloading.page, 1024)
  expect(afterReload.every((outcome) => outcome.identical)).toBe(true)
  await expect(host.page.locator(`tr[data-peer="${reloading.deviceId}"]`)).toHaveAttribute(
    'data-link',
    'open',
  )
})

test('a silent peer is declared gone within 3 s even when no close event fires', async ({
  browser,
  hostBrowser,
}) => {
  const host = await createRoomAsHost(hostBrowser, server)
  const a = await joinAsDevice(browser, host.joinUrl)
  const b = await joinAsDevice(browser, host.joinUrl)
  for (const device of [a, b]) await waitForModelsReady(device.page)
  // Two devices are the two tiers: each links to the host and the other.
  const both = [a.deviceId, b.deviceId]
  const linked = await waitForPlannedLinks(a.page, both)
  expect(linked).toHaveLength(2)
  expect(linked).toContain(b.deviceId)
  await waitForPlannedLinks(b.page, both)

  // Freeze b's main thread: its socket and data channels stay open, but it stops speaking.
  const frozen = await freeze(b.page)
  await expect(a.page.locator(`tr[data-peer="${b.deviceId}"][data-link="open"]`)).toHaveCount(0, {
    timeout: 3_000,
  })
  await expect(host.page.locator(`tr[data-peer="${b.deviceId}"][data-link="open"]`)).toHaveCount(
    0,
    { timeout: 3_000 },
  )
  await frozen.thaw()
})
