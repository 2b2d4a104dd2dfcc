import { type Browser, test as base, chromium } from '@playwright/test'
import { chromiumLaunchOptions } from './browsers.ts'

/**
 * Playwright's `test` with `hostBrowser`: the browser the room's dashboard runs in, Chromium in
 * every project (one per worker), so the specs that run in the firefox project too put Firefox
 * devices in a Chromium-hosted room. The firefox project's own specs take it as their Chromium
 * for mixed rooms (a Firefox dashboard has its own test in firefox/mixed-room.spec.ts).
 */
export const test = base.extend<Record<never, never>, { hostBrowser: Browser }>({
  hostBrowser: [
    async ({ browser, browserName }, use) => {
      if (browserName === 'chromium') {
        await use(browser)
        return
      }
      const host = await chromium.launch(chromiumLaunchOptions)
      await use(host)
      await host.close()
    },
    { scope: 'worker' },
  ],
})

export { expect } from '@playwright/test'
