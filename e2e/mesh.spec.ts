import { expect, test } from '@playwright/test'
import {
  type CohortServer,
  createRoomAsHost,
  echoAll,
  endTest,
  joinAsDevice,
  startCohortServer,
  waitForModelsReady,
  waitForOpenLinks,
} from './harness.ts'

const ONE_MIB_OF_FLOATS = (1024 * 1024) / 4
const DEVICES = 4

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser }, testInfo) => endTest(browser, server, testInfo))

test('devices join by the dashboard URL, talk peer to peer, notice departures and resume after reload', async ({
  browser,
}) => {
  const host = await createRoomAsHost(browser, server)
  expect(host.joinUrl).toMatch(new RegExp(`^${server.url}/r/[0-9A-Z]{13}$`))

  const devices = []
  for (let i = 0; i < DEVICES; i++) devices.push(await joinAsDevice(browser, host.joinUrl))
  const ids = devices.map((device) => device.deviceId)
  expect(new Set(ids).size).toBe(DEVICES)

  // Every member holds a data channel to every other: the host plus the other devices.
  for (const device of devices) await waitForOpenLinks(device.page, DEVICES)
  for (const device of devices) await waitForModelsReady(device.page)
  await expect(host.page.getByTestId('devices').locator('tr[data-peer]')).toHaveCount(DEVICES)
  for (const id of ids)
    await expect(host.page.locator(`tr[data-peer="${id}"]`)).toHaveAttribute('data-link', 'open')

  // A 1 MiB float32 tensor from each device comes back byte-identical from every peer.
  for (const device of devices) {
    const outcomes = await echoAll(device.page, ONE_MIB_OF_FLOATS)
    expect(outcomes).toHaveLength(DEVICES)
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
  await waitForOpenLinks(reloading.page, DEVICES - 1)
  const afterReload = await echoAll(reloading.page, 1024)
  expect(afterReload.every((outcome) => outcome.identical)).toBe(true)
  await expect(host.page.locator(`tr[data-peer="${reloading.deviceId}"]`)).toHaveAttribute(
    'data-link',
    'open',
  )
})

test('a silent peer is declared gone within 3 s even when no close event fires', async ({
  browser,
}) => {
  const host = await createRoomAsHost(browser, server)
  const a = await joinAsDevice(browser, host.joinUrl)
  const b = await joinAsDevice(browser, host.joinUrl)
  await waitForOpenLinks(a.page, 2)
  await waitForOpenLinks(b.page, 2)
  for (const device of [a, b]) await waitForModelsReady(device.page)

  // Freeze b's main thread: its socket and data channels stay open, but it stops speaking.
  const cdp = await b.context.newCDPSession(b.page)
  await cdp.send('Debugger.enable')
  await cdp.send('Debugger.pause')
  await expect(a.page.locator(`tr[data-peer="${b.deviceId}"][data-link="open"]`)).toHaveCount(0, {
    timeout: 3_000,
  })
  await expect(host.page.locator(`tr[data-peer="${b.deviceId}"][data-link="open"]`)).toHaveCount(
    0,
    { timeout: 3_000 },
  )
  await cdp.send('Debugger.resume')
})
