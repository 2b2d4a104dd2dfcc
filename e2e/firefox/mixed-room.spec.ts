import type { Browser, Page } from '@playwright/test'
import { ensembleReference, loadManifest } from '../ensemble-reference.ts'
import { expect, test } from '../fixtures.ts'
import {
  type CohortServer,
  createRoomAsHost,
  echoAll,
  endTest,
  expectEarlyExitAsReference,
  joinAsDevice,
  runSamples,
  startCohortServer,
  waitForEnsembleOf,
  waitForModelsReady,
} from '../harness.ts'

// Mixed rooms: the `browser` of this project is Firefox (through the BiDi bridge); Chromium is
// launched beside it. Devices of both engines serve one room and answer as the offline reference.
const TASK = 'fashion'
const SAMPLES = 300

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
// Firefox's pages first, then Chromium's (`hostBrowser`, the fixture's Chromium).
test.afterEach(({ browser, hostBrowser }, testInfo) =>
  endTest([browser, hostBrowser], server, testInfo),
)

/** The engine a device page says it runs on (its Models section), and what its profile says of it. */
const engineOf = (page: Page) =>
  page.evaluate(() => {
    type Runtime = {
      cohort: {
        runtime: {
          state(): {
            ep: { executionProvider: string; threads: number } | null
            profile: {
              engine: {
                engine: string
                clockStepMs: number
                crossOriginIsolated: boolean
                webgpuApi: boolean
                wakeLock: boolean
              }
            } | null
          }
        }
      }
    }
    const state = (window as unknown as Runtime).cohort.runtime.state()
    return { ep: state.ep, facts: state.profile?.engine, userAgent: navigator.userAgent }
  })

/**
 * A room on `hostBrowser` with `count` devices of each engine (`chromium`, `firefox`) joined;
 * resolves once every device's models are ready and all are planned into groups.
 */
async function mixedRoom(
  hostBrowser: Browser,
  { chromium, firefox }: { chromium: Browser; firefox: Browser },
  count: number,
) {
  const host = await createRoomAsHost(hostBrowser, server)
  await host.page.goto(`${host.page.url()}?task=${TASK}&threads=1`)
  const url = `${host.joinUrl}?task=${TASK}&threads=1`
  const devices = []
  for (let i = 0; i < count; i++) {
    devices.push({ engine: 'chromium', ...(await joinAsDevice(chromium, url)) })
    devices.push({ engine: 'firefox', ...(await joinAsDevice(firefox, url)) })
  }
  for (const device of devices) await waitForModelsReady(device.page)
  const ids = devices.map((device) => device.deviceId)
  await waitForEnsembleOf(host.page, ids)
  return { host, devices, ids }
}

test('Firefox and Chromium devices serve one Chromium-hosted room: links both ways, 300 ensemble and 300 early-exit samples as the offline reference', async ({
  browser: firefox,
  hostBrowser: chromium,
}) => {
  test.setTimeout(600_000)
  const manifest = loadManifest(TASK)
  const { host, devices } = await mixedRoom(chromium, { chromium, firefox }, 2)

  // What differs between the engines, as each device page measures it, shows it and sends it
  // with its profile: Firefox ESR has no WebGPU API; both are isolated (threads possible).
  for (const device of devices) {
    const { ep, facts, userAgent } = await engineOf(device.page)
    expect(userAgent, device.engine).toContain(device.engine === 'firefox' ? 'Firefox' : 'Chrome')
    expect(ep?.executionProvider).toBe('wasm')
    expect(facts, device.engine).toMatchObject({
      engine: device.engine === 'firefox' ? 'gecko' : 'chromium',
      crossOriginIsolated: true,
      webgpuApi: device.engine === 'chromium',
    })
    expect(facts?.clockStepMs).toBeGreaterThan(0)
    const shown = device.page.getByTestId('engine-facts')
    await expect(shown).toHaveAttribute('data-engine', facts?.engine ?? '')
    await expect(shown).toContainText(facts?.webgpuApi ? 'WebGPU API' : 'no WebGPU')
    expect(server.log.join('\n')).toMatch(
      new RegExp(`${device.deviceId} profiled \\(browser, wasm, ${facts?.engine} · clock `),
    )
    console.info(
      `${device.engine}: ${ep?.executionProvider} × ${ep?.threads}, ${await shown.textContent()}`,
    )
  }

  // Links: the Chromium dashboard to every device, and each Firefox device to the others.
  const fromHost = await echoAll(host.page, 1_024)
  expect(fromHost.filter((echo) => !echo.identical)).toEqual([])
  for (const device of devices.filter((d) => d.engine === 'firefox')) {
    const echoes = await echoAll(device.page, 1_024)
    expect(echoes.length).toBeGreaterThan(0)
    expect(echoes.filter((echo) => !echo.identical)).toEqual([])
  }
  const rtt = fromHost.map((echo) => echo.roundTripMs?.toFixed(2)).join(', ')
  console.info(`Chromium dashboard → devices (Chromium, Firefox, …): round trips ${rtt} ms`)

  // 300 ensemble samples, 8 in flight: each as the reference of its K.
  const references = new Map<number, number[]>()
  const ensemble = await runSamples(host.page, SAMPLES, { window: 8 })
  expect(ensemble.filter((o) => o.error !== null || o.degraded)).toEqual([])
  for (const o of ensemble) {
    const k = o.k ?? 0
    if (!references.has(k)) references.set(k, await ensembleReference(manifest, k, SAMPLES))
    expect(o.prediction, `sample ${o.index} (K=${k})`).toBe(references.get(k)?.[o.index])
  }
  // Both engines served.
  for (const engine of ['chromium', 'firefox']) {
    let served = 0
    for (const device of devices.filter((d) => d.engine === engine))
      served += Number(await device.page.getByTestId('serving').getAttribute('data-served'))
    console.info(`${engine} devices served ${served} requests`)
    expect(served, `${engine} devices served`).toBeGreaterThan(0)
  }

  // 300 early-exit samples at the calibrated thresholds: exits and answers as the reference.
  await expectEarlyExitAsReference(host.page, manifest, SAMPLES)
})

test('a Firefox dashboard runs a room of Chromium and Firefox devices', async ({
  browser: firefox,
  hostBrowser: chromium,
}) => {
  test.setTimeout(600_000)
  const manifest = loadManifest(TASK)
  const { host } = await mixedRoom(firefox, { chromium, firefox }, 1)
  const outcomes = await runSamples(host.page, 100, { window: 4 })
  expect(outcomes.filter((o) => o.error !== null || o.degraded)).toEqual([])
  const references = new Map<number, number[]>()
  for (const o of outcomes) {
    const k = o.k ?? 0
    if (!references.has(k)) references.set(k, await ensembleReference(manifest, k, 100))
    expect(o.prediction, `sample ${o.index} (K=${k})`).toBe(references.get(k)?.[o.index])
  }
})
