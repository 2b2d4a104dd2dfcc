import { defineConfig } from '@playwright/test'
import {
  CHROMIUM_PATH,
  chromiumLaunchOptions,
  FIREFOX_PATH,
  firefoxLaunchOptions,
  requireBrowser,
} from './e2e/browsers.ts'

requireBrowser('Chromium', CHROMIUM_PATH, 'CHROMIUM_PATH', 'chromium')
requireBrowser('Firefox', FIREFOX_PATH, 'FIREFOX_PATH', 'firefox-esr')

export default defineConfig({
  testDir: 'e2e',
  // Two shared cores: one spec file at a time, each test with its own server and browsers.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    // No Playwright traces: every device context downloads the same models, and closing one
    // mid-test (as the failure tests do) while the others record made Playwright's trace zipping
    // fail the test in context.close ("file data stream has unexpected number of bytes", seen
    // once in 29 on 2026-12-02). A failed test prints the server's log and its error context.
    trace: 'off',
  },
  projects: [
    {
      name: 'chromium',
      testIgnore: ['firefox/**'],
      use: { browserName: 'chromium', launchOptions: chromiumLaunchOptions },
    },
    {
      // Firefox's `browser`; its specs launch Chromium beside it for mixed rooms. The mesh flows
      // and the device page's own (progress, recovery, Leave, refusal) run here too, with
      // Firefox devices in a Chromium-hosted room (fixtures.ts): they drive the pages through a
      // TCP proxy and a held request, not the DevTools protocol.
      name: 'firefox',
      testMatch: ['firefox/**/*.spec.ts', 'device-page.spec.ts', 'mesh.spec.ts'],
      use: { browserName: 'firefox', launchOptions: firefoxLaunchOptions },
    },
  ],
})
