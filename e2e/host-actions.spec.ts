import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, type Page, test } from '@playwright/test'
import {
  type CohortServer,
  createRoomAsHost,
  endTest,
  joinAsDevice,
  newMemberContext,
  startCohortServer,
} from './harness.ts'

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser }, testInfo) => endTest(browser, server, testInfo))

/** The device page's big status: its phase and the line under it. */
async function expectDeviceStatus(page: Page, phase: string, detail: RegExp): Promise<void> {
  const status = page.getByTestId('device-status')
  await expect(status).toHaveAttribute('data-phase', phase)
  await expect(status).toContainText(detail)
}

test('the host locks the room, removes and bans devices and ends the room, and every phone says why', async ({
  browser,
}) => {
  const host = await createRoomAsHost(browser, server)
  const a = await joinAsDevice(browser, host.joinUrl)
  const b = await joinAsDevice(browser, host.joinUrl)
  const c = await joinAsDevice(browser, host.joinUrl)
  const devices = host.page.getByTestId('devices')
  await expect(devices.locator('tr[data-peer]')).toHaveCount(3)

  // Locked: a newcomer is refused, a member coming back (a reload) is not.
  await host.page.getByTestId('lock-room').click()
  await expect(host.page.getByTestId('room-lock-state')).toHaveAttribute('data-locked', 'true')
  const newcomer = await (await newMemberContext(browser)).newPage()
  await newcomer.goto(host.joinUrl)
  await expectDeviceStatus(newcomer, 'error', /locked/)
  await a.page.reload()
  await expect(a.page.getByTestId('status')).toHaveAttribute('data-state', 'joined')
  await expect(a.page.getByTestId('device-id')).toHaveText(a.deviceId)

  // Removed: the page stops, and coming back as itself is refused.
  await host.page.getByTestId(`remove-${a.deviceId}`).click()
  await expectDeviceStatus(a.page, 'left', /took this device out/)
  await expect(devices.locator(`tr[data-peer="${a.deviceId}"]`)).toHaveCount(0)
  await a.page.reload()
  await expectDeviceStatus(a.page, 'error', /removed this device/)

  // Banned: removed, and its address is refused even as a new device (the test's pages share
  // one address, so every new page is refused; the host's key still gets it in).
  await host.page.getByTestId('lock-room').click()
  await expect(host.page.getByTestId('room-lock-state')).toHaveAttribute('data-locked', 'false')
  await host.page.getByTestId(`ban-${b.deviceId}`).click()
  await expectDeviceStatus(b.page, 'left', /took this device out/)
  await newcomer.reload()
  await expectDeviceStatus(newcomer, 'error', /banned this network address/)

  // Ended: the last device is sent away, and the dashboard says the room is over.
  host.page.once('dialog', (dialog) => void dialog.accept())
  await host.page.getByTestId('end-room').click()
  await expect(host.page.getByTestId('room-ended')).toBeVisible()
  await expectDeviceStatus(c.page, 'left', /ended this room/)
  await c.page.reload()
  await expectDeviceStatus(c.page, 'error', /was ended by its host/)
})

test('a locked room stays locked after the coordinator restarts: the dashboard tells it again', async ({
  browser,
}) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'cohort-lock-restart-'))
  await server.stop()
  server = await startCohortServer({ stateDir })
  try {
    const host = await createRoomAsHost(browser, server)
    await host.page.getByTestId('lock-room').click()
    await expect(host.page.getByTestId('room-lock-state')).toHaveAttribute('data-locked', 'true')

    await server.stop('SIGKILL')
    await expect(host.page.getByTestId('status')).not.toHaveAttribute('data-state', 'joined')
    server = await startCohortServer({ port: server.port, stateDir })
    await expect(host.page.getByTestId('status')).toHaveAttribute('data-state', 'joined')
    // The room was re-created from the host key, unlocked, and the dashboard locked it again.
    await expect
      .poll(() => server.log.some((line) => / locked$/.test(line)), { timeout: 15_000 })
      .toBe(true)
    const newcomer = await (await newMemberContext(browser)).newPage()
    await newcomer.goto(host.joinUrl)
    await expectDeviceStatus(newcomer, 'error', /locked/)
  } finally {
    await server.stop()
    rmSync(stateDir, { recursive: true, force: true })
  }
})
