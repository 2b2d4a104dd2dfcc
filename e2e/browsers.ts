import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { LaunchOptions } from '@playwright/test'

/**
 * The browsers Cohort's tests and benchmarks drive, and how: Debian's Chromium and Firefox ESR
 * (Playwright's own browser downloads are not reachable here). CHROMIUM_PATH and FIREFOX_PATH
 * point at others.
 */

/** Chromium's executable. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** Firefox's executable (run behind the BiDi bridge). */
export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr'

/** Flags that let headless Chromium pages on one machine connect over WebRTC (TESTING.md). */
export const chromiumArgs = [
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

/** Chromium as every test and benchmark launches it. */
export const chromiumLaunchOptions: LaunchOptions = {
  executablePath: CHROMIUM_PATH,
  args: chromiumArgs,
}

/** The stand-in executable that runs Firefox behind a small WebDriver BiDi bridge. */
export const FIREFOX_BRIDGE = fileURLToPath(new URL('./firefox/bidi-bridge.mjs', import.meta.url))

/**
 * Firefox through Playwright's WebDriver BiDi backend (any `moz-*` channel selects it), behind
 * the bridge (see bidi-bridge.mjs: it answers a command this Firefox lacks and stores the
 * camera/microphone permission that lets Firefox gather loopback candidates). ICE may use
 * loopback, as on one machine it must; `performance.now()` is not coarsened, so round trips
 * can be measured below a millisecond.
 */
export const firefoxLaunchOptions: LaunchOptions = {
  channel: 'moz-firefox',
  executablePath: FIREFOX_BRIDGE,
  firefoxUserPrefs: {
    'media.peerconnection.ice.loopback': true,
    'privacy.reduceTimerPrecision': false,
  },
  env: { ...process.env, FIREFOX_PATH },
}

/** Throws, with how to install it, when a browser's executable is missing. */
export function requireBrowser(name: string, path: string, variable: string, apt: string): void {
  if (!existsSync(path)) {
    throw new Error(
      `No ${name} at ${path}. Install it (apt-get install -y ${apt}) or set ${variable}.`,
    )
  }
}
