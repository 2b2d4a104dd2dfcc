import { type BrowserContextOptions, devices as descriptors, type Page } from '@playwright/test'
import { expect, test } from '../fixtures.ts'
import {
  type CohortServer,
  createRoomAsHost,
  endTest,
  joinAsDevice,
  startCohortServer,
  waitForModelsReady,
} from '../harness.ts'

// A phone and a tablet, in both engines, opening the join link and the dashboard: neither page
// overflows sideways; the device page's big status and Leave button, and the dashboard's room
// QR code and room code, are in view without scrolling; a device's Remove and Ban fit the dashboard's width.
// Chromium gets Playwright's descriptors whole (viewport, touch, user agent); Firefox's BiDi takes
// the viewport and user agent only.

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser, hostBrowser }, testInfo) =>
  endTest([hostBrowser, browser], server, testInfo),
)

/** A descriptor as an engine takes it: Firefox's BiDi has no touch or mobile emulation. */
function emulated(name: string, engine: 'chromium' | 'firefox'): BrowserContextOptions {
  const found = descriptors[name]
  if (!found) throw new Error(`no device descriptor ${name}`)
  const { defaultBrowserType: _, ...descriptor } = found
  if (engine === 'chromium') return descriptor
  const { hasTouch: _touch, isMobile: _mobile, ...withoutTouch } = descriptor
  return withoutTouch
}

/** How a page sits in its viewport: sideways overflow, and which of `testIds` are fully in view. */
const layoutOf = (page: Page, testIds: readonly string[]) =>
  page.evaluate((testIds) => {
    // The layout viewport without scrollbars (Firefox draws a classic one; Chromium's overlays).
    const { clientWidth, clientHeight, scrollWidth } = document.documentElement
    const inView = (testId: string) => {
      const box = document.querySelector(`[data-testid="${testId}"]`)?.getBoundingClientRect()
      return box
        ? box.top >= 0 && box.left >= 0 && box.bottom <= clientHeight && box.right <= clientWidth
        : false
    }
    return {
      overflowPx: scrollWidth - clientWidth,
      ...Object.fromEntries(testIds.map((testId) => [testId, inView(testId)])),
    }
  }, testIds)

/**
 * Whether the element `testId` can be seen across its whole width without scrolling sideways: in
 * the page's width and in every scrolling box around it (it may be further down).
 */
const withinWidth = (page: Page, testId: string) =>
  page.evaluate((testId) => {
    const element = document.querySelector(`[data-testid="${testId}"]`)
    if (!element) return false
    const box = element.getBoundingClientRect()
    let left = 0
    let right = document.documentElement.clientWidth
    for (let outer = element.parentElement; outer; outer = outer.parentElement) {
      if (getComputedStyle(outer).overflowX === 'visible') continue
      const clip = outer.getBoundingClientRect()
      left = Math.max(left, clip.left)
      right = Math.min(right, clip.left + outer.clientLeft + outer.clientWidth)
    }
    return box.left >= left && box.right <= right
  }, testId)

for (const name of ['Pixel 7', 'Galaxy Tab S4']) {
  test(`on a ${name}, the device page and the dashboard fit its width with their key parts in view, in Chromium and Firefox`, async ({
    browser: firefox,
    hostBrowser: chromium,
  }) => {
    test.setTimeout(180_000)
    for (const [engine, browser] of [
      ['chromium', chromium],
      ['firefox', firefox],
    ] as const) {
      const contextOptions = emulated(name, engine)
      const host = await createRoomAsHost(browser, server, { contextOptions })
      await host.page.goto(`${host.page.url()}?task=digits`)
      const device = await joinAsDevice(browser, `${host.joinUrl}?task=digits&threads=1`, {
        contextOptions,
      })
      await waitForModelsReady(device.page)
      expect(device.page.viewportSize(), engine).toEqual(contextOptions.viewport)
      expect(await layoutOf(device.page, ['device-status', 'leave']), engine).toEqual({
        overflowPx: 0,
        'device-status': true,
        leave: true,
      })
      // A phone starts with the details collapsed: the whole page is one screen. A tablet shows them.
      const phone = (contextOptions.viewport?.width ?? 0) < 640
      const collapsed = device.page.locator('details.device-more:not([open])')
      await expect(collapsed, engine).toHaveCount(phone ? 2 : 0)
      if (phone) {
        const { scrollHeight, clientHeight } = await device.page.evaluate(() => ({
          scrollHeight: document.documentElement.scrollHeight,
          clientHeight: document.documentElement.clientHeight,
        }))
        expect(scrollHeight, engine).toBeLessThanOrEqual(clientHeight)
      }

      await expect(host.page.getByTestId(`ban-${device.deviceId}`)).toBeVisible()
      expect(await layoutOf(host.page, ['join-qr', 'room-code']), engine).toEqual({
        overflowPx: 0,
        'join-qr': true,
        'room-code': true,
      })
      for (const action of ['remove', 'ban'])
        expect(
          await withinWidth(host.page, `${action}-${device.deviceId}`),
          `${engine}: ${await host.page.getByTestId('peers').textContent()}`,
        ).toBe(true)
      await device.context.close()
      await host.page.context().close()
    }
  })
}
