import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import type { Browser, Page } from '@playwright/test'
import { expect, test } from './fixtures.ts'
import {
  type CohortServer,
  createRoomAsHost,
  endTest,
  freeze,
  newMemberContext,
  runSamples,
  startCohortServer,
} from './harness.ts'

// The small models: these tests are about the page, not the task.
const TASK = 'digits'

/** One rendering of the device's big status, as a person would have seen it. */
interface Shown {
  phase: string
  progress: number | null
  served: number
}

/** Records every distinct status the device page renders (the page re-renders on each change). */
const RECORD_STATUS = `
  window.__shown = []
  new MutationObserver(() => {
    const el = document.querySelector('[data-testid="device-status"]')
    if (!el) return
    const shown = {
      phase: el.getAttribute('data-phase'),
      progress: el.hasAttribute('data-progress') ? Number(el.getAttribute('data-progress')) : null,
      served: Number(el.getAttribute('data-served')),
    }
    const last = window.__shown[window.__shown.length - 1]
    if (!last || last.phase !== shown.phase || last.progress !== shown.progress || last.served !== shown.served)
      window.__shown.push(shown)
  }).observe(document, { subtree: true, childList: true, attributes: true })
`

const shown = (page: Page) =>
  page.evaluate(() => (window as unknown as { __shown: Shown[] }).__shown)

/** The phases in the order they were shown, repeats collapsed. */
const phasesOf = (history: readonly Shown[]) =>
  history.map((entry) => entry.phase).filter((phase, i, all) => phase !== all[i - 1])

const status = (page: Page) => page.getByTestId('device-status')

/** The members of the host's current ensemble plan, and when the coordinator made it. */
const planOf = (host: Page) =>
  host.evaluate(() => {
    const plan = (
      window as unknown as {
        cohort: {
          mesh: {
            plan: {
              createdAt: number
              ensemble: { groups: { members: string[] }[] } | null
            } | null
          }
        }
      }
    ).cohort.mesh.plan
    return plan
      ? {
          createdAt: plan.createdAt,
          members: plan.ensemble?.groups.flatMap((group) => group.members) ?? [],
        }
      : null
  })

/** The device ids the host holds an open data channel to. */
const openLinksOf = (host: Page) =>
  host.evaluate(() =>
    (
      window as unknown as {
        cohort: { mesh: { peers(): { info: { deviceId: string }; link: string }[] } }
      }
    ).cohort.mesh
      .peers()
      .filter((peer) => peer.link === 'open')
      .map((peer) => peer.info.deviceId),
  )

const servedOf = async (page: Page) => Number(await status(page).getAttribute('data-served'))

/** A device page on `url` that records its statuses; returns once it serves in the host's plan. */
async function deviceIn(
  browser: Browser,
  host: Page,
  url: string,
  prepare?: (page: Page) => Promise<void>,
) {
  const context = await newMemberContext(browser)
  await context.addInitScript(RECORD_STATUS)
  const page = await context.newPage()
  await prepare?.(page)
  await page.goto(url)
  await expect(status(page)).toHaveAttribute('data-phase', 'ready', { timeout: 60_000 })
  const deviceId = (await page.getByTestId('device-id').textContent()) ?? ''
  expect(deviceId).not.toBe('')
  await expect
    .poll(async () => (await planOf(host))?.members ?? [], { timeout: 30_000 })
    .toContain(deviceId)
  return { context, page, deviceId }
}

/** The host runs samples; every one is answered, and the device's count goes up. */
async function servesAgain(host: Page, device: Page, samples = 4) {
  const before = await servedOf(device)
  const outcomes = await runSamples(host, samples)
  expect(outcomes.filter((outcome) => outcome.error !== null || outcome.degraded)).toEqual([])
  await expect.poll(() => servedOf(device)).toBeGreaterThan(before)
  await expect(status(device)).toHaveAttribute('data-phase', 'serving')
}

async function hostOn(browser: Browser, server: CohortServer) {
  const host = await createRoomAsHost(browser, server)
  await host.page.goto(`${host.page.url()}?task=${TASK}`)
  return { ...host, deviceUrl: `${host.joinUrl}?task=${TASK}` }
}

/**
 * A TCP forwarder between a browser and the coordinator, which the test can slow down like a
 * phone's network or cut like Wi-Fi. Engine-neutral: no DevTools protocol, so Firefox is tested
 * the same way as Chromium.
 */
interface NetworkProxy {
  readonly port: number
  /** Paces what the browser receives to `bytesPerSecond` (null: full speed). */
  pace(bytesPerSecond: number | null): void
  /**
   * Resets the browser's side of every connection through it and refuses new ones until
   * `restore()`. `loud`: the coordinator's side is reset too, so it sees the socket go at once;
   * `silent`: its side stays open, as when a phone drops off Wi-Fi without a goodbye, and the
   * coordinator learns of it only when the page comes back with a new connection.
   */
  cut(mode: 'loud' | 'silent'): void
  restore(): void
  /** Connections refused since the last cut: the page trying to come back. */
  readonly refused: number
  close(): Promise<void>
}

/** Passes chunks on after the time they take at the rate `rate()` gives (one at a time). */
function pacer(rate: () => number | null): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const bytesPerSecond = rate()
      if (bytesPerSecond === null) done(null, chunk)
      else setTimeout(() => done(null, chunk), (1_000 * chunk.length) / bytesPerSecond)
    },
  })
}

async function startNetworkProxy(target: number): Promise<NetworkProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket; paced: Transform; severed: boolean }>()
  let down = false
  let refused = 0
  let bytesPerSecond: number | null = null
  const proxy: Server = createServer((client) => {
    if (down) {
      refused++
      client.resetAndDestroy()
      return
    }
    const pair = {
      client,
      upstream: connect(target, '127.0.0.1'),
      paced: pacer(() => bytesPerSecond),
      severed: false,
    }
    pairs.add(pair)
    for (const socket of [pair.client, pair.upstream]) socket.on('error', () => socket.destroy())
    client.pipe(pair.upstream).pipe(pair.paced).pipe(client)
    client.on('close', () => {
      if (!pair.severed) pair.upstream.destroy()
    })
    pair.upstream.on('close', () => {
      pairs.delete(pair)
      client.destroy()
    })
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const address = proxy.address()
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port')
  return {
    port: address.port,
    pace(rate) {
      bytesPerSecond = rate
    },
    cut(mode) {
      down = true
      refused = 0
      for (const pair of pairs) {
        if (pair.severed) continue
        pair.severed = mode === 'silent'
        pair.client.unpipe(pair.upstream)
        pair.upstream.unpipe(pair.paced)
        pair.paced.unpipe(pair.client)
        pair.client.resetAndDestroy()
        if (mode === 'loud') pair.upstream.resetAndDestroy()
      }
    },
    restore() {
      down = false
    },
    get refused() {
      return refused
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) {
          pair.client.destroy()
          pair.upstream.destroy()
        }
        proxy.close(() => resolve())
      }),
  }
}

/** `url` with its port replaced by `proxy`'s: the page reaches the coordinator through it. */
const throughProxy = (url: string, proxy: NetworkProxy) => {
  const proxied = new URL(url)
  proxied.port = String(proxy.port)
  return proxied.toString()
}

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser, hostBrowser }, testInfo) =>
  endTest([browser, hostBrowser], server, testInfo),
)

test('a device shows joining, downloading with rising progress, ready, then serving a count that rises', async ({
  browser,
  hostBrowser,
}) => {
  const host = await hostOn(hostBrowser, server)
  // A phone's network (1 MB/s) while the page and its models download, so the download is seen
  // in steps; full speed once done.
  const proxy = await startNetworkProxy(server.port)
  proxy.pace(1_000_000)
  // Nothing the page asks for is missing (a favicon, say).
  const missing: string[] = []
  const device = await deviceIn(
    browser,
    host.page,
    throughProxy(host.deviceUrl, proxy),
    async (page) => {
      page.on('response', (response) => {
        if (response.status() >= 400) missing.push(`${response.status()} ${response.url()}`)
      })
      void page
        .waitForSelector('[data-testid="device-status"][data-progress="100"]', { timeout: 60_000 })
        .then(() => proxy.pace(null))
    },
  )
  await servesAgain(host.page, device.page)
  // Enough samples that the run spans many frames: the count is seen rising along the way.
  await servesAgain(host.page, device.page, 30)

  const history = await shown(device.page)
  expect(phasesOf(history)).toEqual(['joining', 'downloading', 'ready', 'serving'])
  const progress = history.flatMap((entry) =>
    entry.phase === 'downloading' && entry.progress !== null ? [entry.progress] : [],
  )
  // Rising, never falling, through several values between 0 and 100.
  expect(progress).toEqual([...progress].sort((a, b) => a - b))
  expect(progress.filter((value) => value > 0 && value < 100).length).toBeGreaterThanOrEqual(3)
  expect(progress.at(-1)).toBe(100)
  // The served count goes up live, request by request, not only at the end of a run.
  const served = history.filter((entry) => entry.phase === 'serving').map((entry) => entry.served)
  expect(served).toEqual([...served].sort((a, b) => a - b))
  expect(new Set(served).size).toBeGreaterThanOrEqual(4)
  // Big text and a big Leave button on a 360 px phone.
  await device.page.setViewportSize({ width: 360, height: 740 })
  const leave = await device.page.getByTestId('leave').boundingBox()
  expect(leave?.height).toBeGreaterThanOrEqual(48)
  expect(leave?.width).toBeGreaterThanOrEqual(0.75 * 360)
  const overflow = await device.page.evaluate(() => document.documentElement.scrollWidth)
  expect(overflow).toBeLessThanOrEqual(360)
  expect(missing).toEqual([])
  // …and its icon is one the server has (headless browsers never fetch it themselves).
  const icon = await device.page.locator('link[rel="icon"]').getAttribute('href')
  const iconResponse = await device.page.request.get(
    new URL(icon ?? '/favicon.ico', host.page.url()).href,
  )
  expect([iconResponse.status(), iconResponse.headers()['content-type']]).toEqual([
    200,
    'image/svg+xml',
  ])
  await proxy.close()
})

test('after the coordinator restarts on the same port and state dir, the device serves again with the same id', async ({
  browser,
  hostBrowser,
}) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'cohort-device-restart-'))
  await server.stop()
  server = await startCohortServer({ stateDir })
  try {
    const host = await hostOn(hostBrowser, server)
    const device = await deviceIn(browser, host.page, host.deviceUrl)
    await servesAgain(host.page, device.page)
    const before = await planOf(host.page)

    await server.stop('SIGKILL')
    await expect(status(device.page)).toHaveAttribute('data-phase', 'reconnecting')
    server = await startCohortServer({ port: server.port, stateDir })

    await expect(device.page.getByTestId('status')).toHaveAttribute('data-state', 'joined')
    await expect(device.page.getByTestId('device-id')).toHaveText(device.deviceId)
    // The restarted coordinator plans the room again from the profiles the pages re-send.
    await expect
      .poll(
        async () => {
          const plan = await planOf(host.page)
          return (
            plan !== null &&
            plan.createdAt > (before?.createdAt ?? 0) &&
            plan.members.includes(device.deviceId)
          )
        },
        { timeout: 30_000 },
      )
      .toBe(true)
    await servesAgain(host.page, device.page)
    expect(phasesOf(await shown(device.page)).slice(-3)).toEqual([
      'serving',
      'reconnecting',
      'serving',
    ])
  } finally {
    await server.stop()
    rmSync(stateDir, { recursive: true, force: true })
  }
})

/** A device reaching the coordinator through a proxy, as a phone reaches it through Wi-Fi. */
async function behindProxy(hostBrowser: Browser, browser: Browser) {
  const proxy = await startNetworkProxy(server.port)
  const host = await hostOn(hostBrowser, server)
  const device = await deviceIn(browser, host.page, throughProxy(host.deviceUrl, proxy))
  await servesAgain(host.page, device.page)
  // From here on the host records each link it loses, so a link seen open later is a new one.
  await host.page.evaluate(() => {
    const page = window as unknown as {
      __gone: string[]
      cohort: {
        mesh: { subscribe(listener: (event: { type: string; deviceId?: string }) => void): void }
      }
    }
    page.__gone = []
    page.cohort.mesh.subscribe((event) => {
      if (event.type === 'peer-gone' && event.deviceId) page.__gone.push(event.deviceId)
    })
  })
  return { proxy, host, device }
}

const goneFrom = (host: Page) =>
  host.evaluate(() => (window as unknown as { __gone: string[] }).__gone)

/** The network stays bad a while: the page's reconnects are refused three times (past the mesh's first link retry) before they get through. */
async function comeBack(proxy: NetworkProxy, host: Page, device: { page: Page; deviceId: string }) {
  await expect.poll(() => proxy.refused, { timeout: 30_000 }).toBeGreaterThanOrEqual(3)
  proxy.restore()
  // The host loses its link to the device (at once on a loud cut; on a silent one, when the
  // device's new connection replaces the old), and a new one opens.
  await expect.poll(() => goneFrom(host), { timeout: 30_000 }).toContain(device.deviceId)
  await expect.poll(() => openLinksOf(host), { timeout: 30_000 }).toContain(device.deviceId)
  await expect(status(device.page)).toHaveAttribute('data-phase', 'serving', { timeout: 30_000 })
  await expect(device.page.getByTestId('device-id')).toHaveText(device.deviceId)
  // Its leaving re-planned the room without it; its profile, sent again on rejoining, brings
  // it back into the plan (until then the host's requests get a typed no-plan).
  await expect
    .poll(async () => (await planOf(host))?.members ?? [], { timeout: 30_000 })
    .toContain(device.deviceId)
  await servesAgain(host, device.page)
  expect(phasesOf(await shown(device.page)).slice(-3)).toEqual([
    'serving',
    'reconnecting',
    'serving',
  ])
}

test('after a network blip drops its socket and links, the device comes back to serving with the same id', async ({
  browser,
  hostBrowser,
}) => {
  const { proxy, host, device } = await behindProxy(hostBrowser, browser)
  try {
    // Offline alone leaves an open WebSocket up in Chromium: the cut is what drops it.
    await device.context.setOffline(true)
    proxy.cut('loud')
    await expect(status(device.page)).toHaveAttribute('data-phase', 'reconnecting')
    // The coordinator saw the socket go: the host was told and dropped its link to the device.
    await expect.poll(() => goneFrom(host.page)).toContain(device.deviceId)
    expect(await openLinksOf(host.page)).not.toContain(device.deviceId)
    await device.context.setOffline(false)
    await comeBack(proxy, host.page, device)
  } finally {
    await proxy.close()
  }
})

test('after a blip the coordinator never noticed, the device’s new connection replaces its old one and links re-form', async ({
  browser,
  hostBrowser,
}) => {
  const { proxy, host, device } = await behindProxy(hostBrowser, browser)
  try {
    proxy.cut('silent')
    await expect(status(device.page)).toHaveAttribute('data-phase', 'reconnecting')
    await comeBack(proxy, host.page, device)
    // The coordinator learned of the old connection only through the new one.
    expect(server.log.join('\n')).toContain(`${device.deviceId} replaced by a new connection`)
  } finally {
    await proxy.close()
  }
})

test('after the tab was hidden and frozen long enough to be declared gone, links re-form and the wake lock is asked again', async ({
  browser,
  hostBrowser,
}) => {
  const host = await hostOn(hostBrowser, server)
  const device = await deviceIn(browser, host.page, host.deviceUrl)
  await servesAgain(host.page, device.page)
  const wake = device.page.getByTestId('wake-lock')
  const requests = Number(await wake.getAttribute('data-requests'))
  expect(requests).toBeGreaterThanOrEqual(1)
  // Headless Chromium refuses the wake lock: the page must say the screen may sleep, and why.
  await expect(wake).toHaveAttribute('data-state', /^(held|unavailable)$/)
  const held = (await wake.getAttribute('data-state')) === 'held'
  if (!held) await expect(wake).toContainText('Screen may sleep')

  // Hidden, as when the phone's user switches apps (headless pages are always visible, so the
  // state is overridden and the browser's event dispatched)...
  const setVisibility = (state: 'hidden' | 'visible') =>
    device.page.evaluate((state) => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state })
      Object.defineProperty(document, 'hidden', {
        configurable: true,
        get: () => state === 'hidden',
      })
      document.dispatchEvent(new Event('visibilitychange'))
    }, state)
  await setVisibility('hidden')
  // ...and throttled to a standstill: the page runs no script until its peers declare it gone.
  const frozen = await freeze(device.page)
  await expect
    .poll(() => openLinksOf(host.page), { timeout: 15_000 })
    .not.toContain(device.deviceId)
  await frozen.thaw()
  await setVisibility('visible')

  // Asked again once visible (a lock the browser still holds, on a page never really hidden,
  // needs no asking).
  await expect(wake).toHaveAttribute('data-requests', String(held ? requests : requests + 1))
  await expect.poll(() => openLinksOf(host.page), { timeout: 30_000 }).toContain(device.deviceId)
  await servesAgain(host.page, device.page)
  await expect(device.page.getByTestId('device-id')).toHaveText(device.deviceId)
  expect(phasesOf(await shown(device.page)).slice(-3)).toEqual([
    'serving',
    'reconnecting',
    'serving',
  ])
})

test('Leave shows left with a way back, and the host sees the device gone', async ({
  browser,
  hostBrowser,
}) => {
  const host = await hostOn(hostBrowser, server)
  const device = await deviceIn(browser, host.page, host.deviceUrl)
  await servesAgain(host.page, device.page)

  await device.page.getByTestId('leave').click()
  await expect(status(device.page)).toHaveAttribute('data-phase', 'left')
  await expect(device.page.getByTestId('wake-lock')).toBeHidden()
  await expect
    .poll(() =>
      host.page.evaluate(() =>
        (
          window as unknown as { cohort: { mesh: { peers(): { info: { deviceId: string } }[] } } }
        ).cohort.mesh
          .peers()
          .map((peer) => peer.info.deviceId),
      ),
    )
    .not.toContain(device.deviceId)

  // Join again: the resume token was forgotten, so this is a new device.
  await device.page.getByTestId('rejoin').click()
  await expect(status(device.page)).toHaveAttribute('data-phase', 'ready', { timeout: 60_000 })
  await expect(device.page.getByTestId('device-id')).not.toHaveText(device.deviceId)
})

test('a device shows the name the dashboard lists it by; when the host closes its dashboard, the device says so and stays in the room', async ({
  browser,
  hostBrowser,
}) => {
  const host = await hostOn(hostBrowser, server)
  const device = await deviceIn(browser, host.page, host.deviceUrl)
  await servesAgain(host.page, device.page)
  await expect(status(device.page)).toContainText('Keep this page open.')
  // A friendly name, on the phone and on the dashboard's row for it.
  const shown = (await device.page.getByTestId('device-name').textContent()) ?? ''
  const name = shown.replace(/^You are /, '')
  expect(name).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/)
  await expect(
    host.page.locator(`tr[data-peer="${device.deviceId}"] [data-testid="peer-name"]`),
  ).toHaveText(name)

  await host.page.context().close()
  await expect(status(device.page)).toContainText('The host left.')
  await expect(status(device.page)).toHaveAttribute('data-phase', 'serving')
  await expect(device.page.getByTestId('status')).toHaveAttribute('data-state', 'joined')
})

test('a join URL of a room that does not exist shows an error with a way out', async ({
  browser,
}) => {
  const context = await newMemberContext(browser)
  const page = await context.newPage()
  await page.goto(`${server.url}/r/0000000000000?task=${TASK}`)
  await expect(status(page)).toHaveAttribute('data-phase', 'error')
  await expect(page.getByTestId('device-phase')).toHaveText('Could not join')
  await expect(status(page)).toContainText('There is no room')
  await expect(page.getByRole('link', { name: 'Start page' })).toHaveAttribute('href', '/')
  await expect(page.getByTestId('leave')).toHaveCount(0)
  await expect(page.getByTestId('wake-lock')).toBeHidden()
})

test('a browser without WebRTC gets a page saying what it lacks and what to use, and never joins', async ({
  browser,
  hostBrowser,
}) => {
  const host = await createRoomAsHost(hostBrowser, server)
  const context = await newMemberContext(browser, {
    initScript: 'delete window.RTCPeerConnection; delete window.webkitRTCPeerConnection',
  })
  const page = await context.newPage()
  await page.goto(host.joinUrl)
  const unsupported = page.getByTestId('unsupported')
  await expect(unsupported).toBeVisible()
  await expect(unsupported.locator('li')).toHaveText([/^WebRTC \(RTCPeerConnection\) — /])
  await expect(unsupported).toContainText('Firefox')
  // No device page, no join: the room never hears of it.
  await expect(page.getByTestId('device-status')).toHaveCount(0)
  const members = await host.page.evaluate(
    () =>
      (window as unknown as { cohort: { mesh: { peers(): unknown[] } } }).cohort.mesh.peers()
        .length,
  )
  expect(members).toBe(0)
})
