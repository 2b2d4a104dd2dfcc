import { profiledModels } from '@cohort/runtime/client'
import { type Browser, type BrowserType, expect, type Page, test } from '@playwright/test'
import { CHROMIUM_PATH, chromiumArgs } from './browsers.ts'
import { loadManifest } from './ensemble-reference.ts'
import {
  type CohortServer,
  createRoomAsHost,
  endTest,
  newMemberContext,
  startCohortServer,
} from './harness.ts'

// One device page and its inference runtime: the models a profile measures (one of each twin set)
// downloaded with progress into the Cache API, the others when something needs them; the
// reference inputs run in the worker against PyTorch's outputs, a killed worker recovered by the
// next call, the device profile reported, and a reload that fetches no model bytes at all.

const TASK = process.env.COHORT_E2E_TASK ?? 'digits'
const READY_MS = 120_000

/** The slice of `window.cohort.runtime` this spec uses (see apps/web/src/device-runtime.ts). */
interface RuntimeHandle {
  state(): {
    phase: string
    storage: { kind: string; reason: string } | null
    ep: { executionProvider: string; threads: number; reason: string } | null
    models: {
      id: string
      bytesDone: number
      bytesTotal: number
      source: string | null
      state: string
    }[]
    progressEvents: Record<string, number>
    restarts: number
  }
  whenReady(): Promise<unknown>
  runReference(): Promise<{
    outcomes: { modelId: string; maxAbsDiff: number; argmaxAgreement: number }[]
    attempts: number[]
  }>
  runReferenceOn(
    executionProvider: 'wasm' | 'webgpu',
    modelIds: readonly string[],
  ): Promise<{
    outcomes: { modelId: string; maxAbsDiff: number; argmaxAgreement: number }[]
    attempts: number[]
  }>
  crashWorker(): void
  profile(): Promise<{
    label: string
    executionProvider: string
    threads: number
    cores: number | null
    engine: { engine: string; crossOriginIsolated: boolean }
    msPerModel: Record<string, number>
    models: { modelId: string; medianMs: number; p95Ms: number; roundTripMedianMs: number }[]
  }>
}
type RuntimeWindow = Window & { cohort?: { runtime?: RuntimeHandle } }

/** Waits (by polling the page, not by sleeping) until the runtime handle exists, then until it is ready. */
async function runtimeReady(page: Page) {
  // Ready or failed, whichever comes first: a failure should fail the test now, with its reason.
  await expect(page.getByTestId('models')).toHaveAttribute('data-phase', /^(ready|failed)$/, {
    timeout: READY_MS,
  })
  if ((await page.getByTestId('models').getAttribute('data-phase')) === 'failed') {
    throw new Error(`the runtime failed: ${await page.getByTestId('models-error').textContent()}`)
  }
  return page.evaluate(async () => {
    const runtime = (window as RuntimeWindow).cohort?.runtime
    if (!runtime) throw new Error('the page exposes no window.cohort.runtime')
    await runtime.whenReady()
    return runtime.state()
  })
}

function runReference(page: Page) {
  return page.evaluate(() => {
    const runtime = (window as RuntimeWindow).cohort?.runtime
    if (!runtime) throw new Error('the page exposes no window.cohort.runtime')
    return runtime.runReference()
  })
}

/** The models a page fetches before it is ready (the rest are `deferred` until needed). */
const PROFILED = new Set(profiledModels(loadManifest(TASK)).map((entry) => entry.id))
/** The rows of the models a page fetched before it was ready. */
const fetchedFirst = <T extends { id: string }>(models: readonly T[]) =>
  models.filter((m) => PROFILED.has(m.id))

function expectReferenceMatch(report: Awaited<ReturnType<typeof runReference>>, count: number) {
  expect(report.outcomes).toHaveLength(count)
  for (const o of report.outcomes) {
    expect(o.maxAbsDiff, o.modelId).toBeLessThanOrEqual(1e-4)
    expect(o.argmaxAgreement, o.modelId).toBe(1)
  }
}

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser }, testInfo) => endTest(browser, server, testInfo))

test('a device downloads its models with progress, runs them in its worker, survives a worker crash, profiles itself, and reloads from cache', async ({
  browser,
}) => {
  const host = await createRoomAsHost(browser, server)
  const context = await newMemberContext(browser)
  // Every model request passes through here, so "nothing fetched" is an observation, not an inference.
  const onnx = { requests: 0, bytes: 0 }
  const wasmFiles: string[] = []
  context.on('request', (request) => {
    const path = new URL(request.url()).pathname
    if (path.endsWith('.wasm')) wasmFiles.push(path)
  })
  await context.route('**/*.onnx', (route) => {
    onnx.requests++
    return route.continue()
  })
  context.on('requestfinished', (request) => {
    if (!new URL(request.url()).pathname.endsWith('.onnx')) return
    void request.sizes().then((sizes) => {
      onnx.bytes += sizes.responseBodySize
    })
  })
  const page = await context.newPage()
  await page.goto(`${host.joinUrl}?task=${TASK}`)
  await expect(page.getByTestId('status')).toHaveAttribute('data-state', 'joined')

  // First visit: the models a profile measures are downloaded, with progress reported up to
  // their full size; their twins are not (the plan of a room of one names none of them).
  const first = await runtimeReady(page)
  const count = first.models.length
  const fetched = fetchedFirst(first.models)
  expect(fetched.length).toBeGreaterThan(0)
  expect(fetched.length).toBeLessThan(count)
  expect(onnx.requests).toBe(fetched.length)
  // The byte counter sees every model body (so its 0 after the reload below means something).
  const total = fetched.reduce((sum, m) => sum + m.bytesTotal, 0)
  await expect.poll(() => onnx.bytes).toBe(total)
  expect(first.storage?.kind).toBe('cache-api')
  for (const m of fetched) {
    expect(m.source, m.id).toBe('network')
    expect(m.bytesDone, m.id).toBe(m.bytesTotal)
    // At least the 0-byte start and the final chunk.
    expect(first.progressEvents[m.id] ?? 0, m.id).toBeGreaterThanOrEqual(2)
    const row = page.locator(`[data-testid="model-downloads"] tr[data-model="${m.id}"]`)
    await expect(row).toHaveAttribute('data-state', /^(ready|verified)$/)
    await expect(row.getByTestId('model-progress')).toBeVisible()
    await expect(row.getByTestId('model-progress')).toHaveAttribute('value', String(m.bytesTotal))
    await expect(row.getByTestId('model-bytes')).toHaveText(`${m.bytesTotal}/${m.bytesTotal}`)
  }
  for (const m of first.models.filter((m) => !PROFILED.has(m.id))) {
    expect([m.state, m.bytesDone], m.id).toEqual(['deferred', 0])
  }
  // No plan names this page (the room's task is another), so it holds what it measured.
  await expect(page.locator('[data-testid="model-downloads"] tr[data-state="ready"]')).toHaveCount(
    fetched.length,
  )
  await expect(page.getByTestId('model-downloads')).toContainText('when the plan names it')

  // Headless Chromium has no GPU: WASM, threaded because the page is cross-origin isolated.
  const ep = page.getByTestId('ep-choice')
  await expect(ep).toHaveAttribute('data-ep', 'wasm')
  await expect(page.getByTestId('ep-reason')).toContainText('WebGPU not measured')
  // No adapter at all: the worker loaded the WASM-only engine, not the twice-as-large WebGPU one.
  await expect(page.getByTestId('engine-build')).toHaveAttribute('data-build', 'wasm-only')
  expect(wasmFiles.length).toBeGreaterThan(0)
  expect(wasmFiles.filter((f) => f.includes('jsep'))).toEqual([])
  expect(first.ep?.threads).toBeGreaterThanOrEqual(1)

  // The shipped reference inputs of every model, through the worker, match PyTorch (a model it
  // does not hold is fetched and run on a temporary session).
  expectReferenceMatch(await runReference(page), count)
  expect(onnx.requests).toBe(count)

  // A killed worker: the next call succeeds through a restart, retried on the fresh worker.
  await page.evaluate(() => (window as RuntimeWindow).cohort?.runtime?.crashWorker())
  const afterCrash = await runReference(page)
  expectReferenceMatch(afterCrash, count)
  expect(afterCrash.attempts[0]).toBe(2)
  expect(afterCrash.attempts.slice(1).every((a) => a === 1)).toBe(true)
  await expect(page.getByTestId('restarts')).toContainText('restarted 1')

  // The profile: every model measured, with the device's label, provider and threads.
  const profile = await page.evaluate(() => {
    const runtime = (window as RuntimeWindow).cohort?.runtime
    if (!runtime) throw new Error('no runtime')
    return runtime.profile()
  })
  expect(Object.keys(profile.msPerModel).sort()).toEqual(first.models.map((m) => m.id).sort())
  for (const m of profile.models) {
    expect(m.medianMs, m.modelId).toBeGreaterThan(0)
    expect(m.roundTripMedianMs, m.modelId).toBeGreaterThan(0)
  }
  expect(profile).toMatchObject({
    executionProvider: 'wasm',
    engine: { engine: 'chromium', crossOriginIsolated: true },
  })
  expect(profile.label).toMatch(/Chrome on Linux/)
  await expect(page.getByTestId('profile').locator('tbody tr')).toHaveCount(count)

  // Reload: the models come from the Cache API, verified again, and no model byte is fetched.
  onnx.requests = 0
  onnx.bytes = 0
  await page.reload()
  const second = await runtimeReady(page)
  expect(onnx.requests).toBe(0)
  expect(onnx.bytes).toBe(0)
  for (const m of fetchedFirst(second.models)) expect(m.source, m.id).toBe('cache')
  await expect(page.locator('tr[data-model][data-source="cache"]')).toHaveCount(fetched.length)
  expectReferenceMatch(await runReference(page), count)
  expect(onnx.requests).toBe(0)
})

/** Opens the join URL (optionally on another host name) as a device of `task`; waits until joined. */
async function openDevice(browser: Browser, joinUrl: string, hostName?: string) {
  const context = await newMemberContext(browser)
  const url = new URL(`${joinUrl}?task=${TASK}`)
  if (hostName) url.hostname = hostName
  const page = await context.newPage()
  await page.goto(url.href)
  await expect(page.getByTestId('status')).toHaveAttribute('data-state', 'joined')
  return { context, page }
}

/** A browser of its own with extra flags (launch options cannot change per test). */
async function launchWith(playwright: { chromium: BrowserType }, ...extraArgs: string[]) {
  return playwright.chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...chromiumArgs, ...extraArgs],
  })
}

test.describe('with WebGPU on a software adapter (SwiftShader)', () => {
  test('the fallback adapter is not taken for a GPU, yet the WebGPU provider computes correctly', async ({
    playwright,
  }) => {
    const browser = await launchWith(playwright, '--enable-unsafe-webgpu')
    try {
      const host = await createRoomAsHost(browser, server)
      const { page } = await openDevice(browser, host.joinUrl)
      const state = await runtimeReady(page)
      await expect(page.getByTestId('ep-choice')).toHaveAttribute('data-ep', 'wasm')
      await expect(page.getByTestId('ep-reason')).toContainText('software fallback')
      await expect(page.getByTestId('engine-build')).toHaveAttribute('data-build', 'full')
      // Correctness only: the smallest models, since SwiftShader is slow.
      const ids = state.models
        .map((m) => m.id)
        .filter((id) => id.startsWith('combiner') || id === 'segment-1')
      const report = await page.evaluate(
        (modelIds) => (window as RuntimeWindow).cohort?.runtime?.runReferenceOn('webgpu', modelIds),
        ids,
      )
      expect(report?.outcomes).toHaveLength(ids.length)
      for (const o of report?.outcomes ?? []) {
        expect(o.maxAbsDiff, o.modelId).toBeLessThanOrEqual(1e-4)
        expect(o.argmaxAgreement, o.modelId).toBe(1)
      }
    } finally {
      await browser.close()
    }
  })
})

test.describe('on plain http from a LAN-like host name (not a secure context)', () => {
  test('models live in memory, hashes are computed in JavaScript, one thread, outputs still match', async ({
    playwright,
  }) => {
    // cohort.test resolves to the loopback server, but unlike localhost it is not a secure context.
    const browser = await launchWith(playwright, '--host-resolver-rules=MAP cohort.test 127.0.0.1')
    try {
      const host = await createRoomAsHost(browser, server)
      const { page } = await openDevice(browser, host.joinUrl, 'cohort.test')
      expect(await page.evaluate(() => [isSecureContext, crossOriginIsolated])).toEqual([
        false,
        false,
      ])
      const state = await runtimeReady(page)
      expect(state.storage?.kind).toBe('memory')
      await expect(page.getByTestId('storage')).toContainText('JavaScript')
      await expect(page.getByTestId('ep-choice')).toHaveAttribute('data-threads', '1')
      for (const m of fetchedFirst(state.models)) expect(m.source, m.id).toBe('network')
      expectReferenceMatch(await runReference(page), state.models.length)

      // Next visit: memory is gone, so every model is requested again, but only revalidated: the
      // HTTP cache answers with its copy after a 304, and no model body crosses the network.
      const bodies: Promise<number>[] = []
      page.on('requestfinished', (request) => {
        if (new URL(request.url()).pathname.endsWith('.onnx')) {
          bodies.push(request.sizes().then((sizes) => sizes.responseBodySize))
        }
      })
      await page.reload()
      const again = await runtimeReady(page)
      const refetched = fetchedFirst(again.models)
      for (const m of refetched) expect(m.source, m.id).toBe('network')
      expect(await Promise.all(bodies)).toEqual(refetched.map(() => 0))
    } finally {
      await browser.close()
    }
  })
})

test('a tampered model is refused with a typed error, and a tampered cache entry is evicted and fetched again', async ({
  browser,
}) => {
  const host = await createRoomAsHost(browser, server)
  const context = await newMemberContext(browser)
  const onnxUrls: string[] = []
  context.on('request', (request) => {
    if (new URL(request.url()).pathname.endsWith('.onnx')) onnxUrls.push(request.url())
  })
  // The network serves a corrupted teacher: same size, one byte flipped.
  await context.route('**/teacher.onnx', async (route) => {
    const response = await route.fetch()
    const body = Buffer.from(await response.body())
    body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0xff
    await route.fulfill({ response, body })
  })
  const page = await context.newPage()
  await page.goto(`${host.joinUrl}?task=${TASK}`)
  await expect(page.getByTestId('models')).toHaveAttribute('data-phase', 'failed', {
    timeout: READY_MS,
  })
  await expect(page.getByTestId('models-error')).toContainText('does not match its manifest')
  await expect(page.locator('tr[data-model="teacher"]')).toHaveAttribute('data-state', 'failed')
  const cachedTeacher = () =>
    page.evaluate(async () => {
      const cache = await caches.open('cohort-models-v1')
      return (await cache.keys()).filter((r) => r.url.includes('/teacher.onnx')).length
    })
  expect(await cachedTeacher()).toBe(0)

  // The server is fixed: the next visit downloads a good copy and gets ready.
  await context.unroute('**/teacher.onnx')
  await page.reload()
  const state = await runtimeReady(page)
  expect(state.models.find((m) => m.id === 'teacher')?.source).toBe('network')
  expect(await cachedTeacher()).toBe(1)

  // Someone rewrites the cached teacher: the next visit evicts it and downloads it again, alone.
  await page.evaluate(async () => {
    const cache = await caches.open('cohort-models-v1')
    const key = (await cache.keys()).find((r) => r.url.includes('/teacher.onnx'))
    if (!key) throw new Error('teacher is not cached')
    const bytes = new Uint8Array(await ((await cache.match(key)) as Response).arrayBuffer())
    bytes[0] = (bytes[0] ?? 0) ^ 0xff
    await cache.put(key, new Response(bytes))
  })
  onnxUrls.length = 0
  await page.reload()
  const again = await runtimeReady(page)
  expect(onnxUrls.map((u) => new URL(u).pathname)).toEqual([`/models/${TASK}/teacher.onnx`])
  for (const m of fetchedFirst(again.models))
    expect(m.source, m.id).toBe(m.id === 'teacher' ? 'network' : 'cache')
  expectReferenceMatch(await runReference(page), again.models.length)
})
