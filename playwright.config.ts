import { existsSync } from 'node:fs'
import { defineConfig } from '@playwright/test'

/** Debian's Chromium; Playwright's own browser downloads are not reachable here. */
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
if (!existsSync(executablePath)) {
  throw new Error(
    `No Chromium at ${executablePath}. Install it (apt-get install -y chromium) or set CHROMIUM_PATH.`,
  )
}

/** Flags that let headless pages on one machine connect over WebRTC (see shared/TESTING.md). */
export const chromiumArgs = [
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

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
    browserName: 'chromium',
    launchOptions: { executablePath, args: chromiumArgs },
    // No Playwright traces: every device context downloads the same models, and closing one
    // mid-test (as the failure tests do) while the others record made Playwright's trace zipping
    // fail the test in context.close ("file data stream has unexpected number of bytes", seen
    // once in 29 on 2026-12-02). A failed test prints the server's log and its error context.
    trace: 'off',
  },
})
