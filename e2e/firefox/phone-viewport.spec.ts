import { chromium, devices as descriptors, expect, type Page, test } from '@playwright/test'
import { chromiumLaunchOptions } from '../browsers.ts'
import {
  type CohortServer,
  createRoomAsHost,
  endTest,
  joinAsDevice,
  startCohortServer,
  waitForModelsReady,
} from '../harness.ts'

// A phone opening the join link, in both engines: the device page fits the screen's width, and
// its big status and the Leave button are in view without scrolling. Chromium gets Playwright's
// Pixel 7 (viewport, touch, user agent); Firefox's BiDi takes the viewport and user agent only.

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser }, testInfo) => endTest(browser, server, testInfo))

const { defaultBrowserType: _, ...pixel7 } = descriptors['Pixel 7']
const { hasTouch: _touch, isMobile: _mobile, ...pixel7WithoutTouch } = pixel7

/** How the page sits in its viewport: sideways overflow, and whether each part is fully in view. */
const layoutOf = (page: Page) =>
  page.evaluate(() => {
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
      status: inView('device-status'),
      leave: inView('leave'),
    }
  })

test('the device page on a phone fits its width, with the status and Leave in view, in Chromium and Firefox', async ({
  browser: firefox,
}) => {
  test.setTimeout(180_000)
  const chromiumBrowser = await chromium.launch(chromiumLaunchOptions)
  try {
    const host = await createRoomAsHost(chromiumBrowser, server)
    const url = `${host.joinUrl}?task=digits&threads=1`
    const phones = [
      {
        engine: 'chromium',
        ...(await joinAsDevice(chromiumBrowser, url, { contextOptions: pixel7 })),
      },
      {
        engine: 'firefox',
        ...(await joinAsDevice(firefox, url, { contextOptions: pixel7WithoutTouch })),
      },
    ]
    for (const phone of phones) {
      await waitForModelsReady(phone.page)
      expect(phone.page.viewportSize()?.width, phone.engine).toBe(pixel7.viewport.width)
      expect(await layoutOf(phone.page), phone.engine).toEqual({
        overflowPx: 0,
        status: true,
        leave: true,
      })
    }
  } finally {
    await chromiumBrowser.close()
  }
})
