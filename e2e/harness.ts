import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { DEFAULT_MAX_LOADED_MODELS } from '@cohort/cohort'
import type { Manifest } from '@cohort/protocol'
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  expect,
  type Page,
  type TestInfo,
} from '@playwright/test'
import { exitTable, expectAt } from './early-exit-reference.ts'
import type { EchoOutcome, PageApi, SampleOutcome } from './page-api.ts'

const SERVER_MAIN = 'apps/server/src/main.ts'
const LISTENING_MARKER = 'COHORT_LISTENING'

/** A coordinator running as its own process, as `npm start` runs it. */
export interface CohortServer {
  readonly url: string
  readonly port: number
  readonly stateDir: string
  /** The server's process id (benchmarks read its memory). */
  readonly pid: number
  /** Everything the server logged so far. */
  readonly log: string[]
  /** Kills the process (SIGKILL simulates a crash) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>
}

/** Starts the built app's server on a free port (or `port`), with its own state dir. */
export async function startCohortServer(
  options: {
    port?: number
    stateDir?: string
    https?: boolean
    args?: readonly string[]
    /** Flags for Node itself (the soak's --expose-gc). */
    nodeArgs?: readonly string[]
  } = {},
): Promise<CohortServer> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'cohort-e2e-'))
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      '--import',
      'tsx',
      SERVER_MAIN,
      '--host',
      '127.0.0.1',
      '--port',
      String(options.port ?? 0),
      '--state-dir',
      stateDir,
      ...(options.https ? ['--https'] : []),
      ...(options.args ?? []),
      // A build of one's own (`vite build --outDir …`), so concurrent runs do not share dist/.
      ...(process.env.COHORT_E2E_STATIC ? ['--static', process.env.COHORT_E2E_STATIC] : []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const log: string[] = []
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString()))
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    lines.on('line', (line) => {
      log.push(line)
      if (line.startsWith(LISTENING_MARKER)) resolve(line.slice(LISTENING_MARKER.length).trim())
    })
    void exited.then(() => reject(new Error(`server exited before listening:\n${log.join('\n')}`)))
  })
  return {
    url,
    port: Number(new URL(url).port),
    stateDir,
    pid: child.pid ?? -1,
    log,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
      if (!options.stateDir) rmSync(stateDir, { recursive: true, force: true })
    },
  }
}

const DEVICE_MAIN = 'apps/device/src/main.ts'
const DEVICE_READY_MARKER = 'COHORT_DEVICE_READY'

/** A `npm run device` process: Node devices without a browser. */
export interface NodeDevices {
  /** Each device's id, once it serves. */
  readonly ids: readonly string[]
  readonly log: string[]
  /** Ends the process (SIGKILL: as a crash or a pulled cable; SIGINT: Ctrl-C) and waits for it. */
  stop(signal?: NodeJS.Signals): Promise<void>
}

/** Every Node device process started, so endTest stops what a failed test left running. */
const nodeDeviceProcesses = new Set<NodeDevices>()

/** The Node device processes still running (their logs, for a failed test's attachments). */
export function runningNodeDevices(): readonly NodeDevices[] {
  return [...nodeDeviceProcesses]
}

/** Starts `npm run device -- <joinUrl> …args` and resolves once its devices serve. */
export async function startNodeDevices(
  joinUrl: string,
  args: readonly string[] = [],
): Promise<NodeDevices> {
  const count = Number(args[args.indexOf('--devices') + 1] ?? 1) || 1
  const cacheDir = mkdtempSync(join(tmpdir(), 'cohort-device-'))
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', DEVICE_MAIN, joinUrl, '--cache-dir', cacheDir, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const log: string[] = []
  const ids: string[] = []
  let stopping = false
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      // A process that ends by itself (crashed, or its devices all gone): say so where the test
      // or benchmark prints.
      if (!stopping)
        console.error(
          `a Node device process ended by itself (${signal ?? `code ${code}`}); its log ends:\n${log.join('\n').split('\n').slice(-40).join('\n')}`,
        )
      resolve()
    }),
  )
  child.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString()))
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    lines.on('line', (line) => {
      log.push(line)
      if (!line.startsWith(DEVICE_READY_MARKER)) return
      ids.push(line.slice(DEVICE_READY_MARKER.length).trim())
      if (ids.length === count) resolve()
    })
    void exited.then(() => reject(new Error(`the device process exited:\n${log.join('')}`)))
  })
  const devices: NodeDevices = {
    ids,
    log,
    async stop(signal = 'SIGKILL') {
      nodeDeviceProcesses.delete(devices)
      stopping = true
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
      rmSync(cacheDir, { recursive: true, force: true })
    },
  }
  nodeDeviceProcesses.add(devices)
  return devices
}

/**
 * Blocks `page`'s main thread, as a frozen tab: a synchronous request the test holds open, so no
 * script of the page runs (its workers do) until `thaw()`. Resolves once the page is blocked.
 * Engine-neutral (the DevTools protocol's Debugger.pause exists in Chromium only).
 */
export async function freeze(page: Page): Promise<{ thaw(): Promise<void> }> {
  const url = new URL('/__test-freeze', page.url()).toString()
  let thawed!: () => void
  const release = new Promise<void>((resolve) => {
    thawed = resolve
  })
  let entered!: () => void
  const blocked = new Promise<void>((resolve) => {
    entered = resolve
  })
  await page.route(url, async (route) => {
    entered()
    await release
    await route.fulfill({ status: 204 })
  })
  // Returns only once the page runs again.
  const running = page.evaluate((url) => {
    const request = new XMLHttpRequest()
    request.open('GET', url, false)
    request.send()
  }, url)
  await blocked
  return {
    async thaw() {
      thawed()
      await running
      await page.unroute(url)
    },
  }
}

/**
 * Ends a test: every page is closed, so none keeps loading the shared cores (or reconnecting)
 * during the next test; the server stops; a failed test prints the end of the server's log.
 */
export async function endTest(
  browsers: Browser | readonly Browser[],
  server: CohortServer | undefined,
  testInfo: TestInfo,
): Promise<void> {
  if (server && testInfo.status !== testInfo.expectedStatus)
    console.info(`server log:\n${server.log.slice(-40).join('\n')}`)
  for (const browser of new Set(Array.isArray(browsers) ? browsers : [browsers]))
    for (const context of browser.contexts()) await context.close()
  for (const devices of [...nodeDeviceProcesses]) await devices.stop()
  await server?.stop()
  const violations = cspViolations.splice(0)
  if (violations.length > 0) {
    throw new Error(`the pages broke their Content-Security-Policy:\n${violations.join('\n')}`)
  }
}

/** What any member page reported breaking the server's Content-Security-Policy; endTest fails on it. */
const cspViolations: string[] = []

/**
 * Reports every CSP violation of the page, its workers included, to the console with a marker:
 * the `securitypolicyviolation` event names the directive and the blocked URL.
 */
const REPORT_CSP_VIOLATIONS = `(() => {
  const report = (event) =>
    console.error('cohort-csp-violation ' + event.violatedDirective + ' ' + (event.blockedURI || 'inline'))
  globalThis.addEventListener('securitypolicyviolation', report)
})()`

/** How a member's browser context is prepared. */
export interface MemberOptions {
  /** Script source run in every page of the context before the app's own scripts. */
  readonly initScript?: string
  /** More options of the context: a phone's viewport and touch, say (Playwright's `devices`). */
  readonly contextOptions?: BrowserContextOptions
}

/** A browser context that can use WebRTC on a loopback-only machine (media permission, see TESTING.md). */
export async function newMemberContext(
  browser: Browser,
  options: MemberOptions = {},
): Promise<BrowserContext> {
  // ignoreHTTPSErrors: an `--https` server's certificate is self-signed (a person clicks through once).
  const context = await browser.newContext({
    ...options.contextOptions,
    permissions: ['camera', 'microphone'],
    ignoreHTTPSErrors: true,
  })
  // Scripts run through tsx (benchmarks) keep function names with an `__name` helper that
  // page.evaluate bodies then reference inside the page: give the page a no-op one.
  await context.addInitScript('globalThis.__name = (target) => target')
  await context.addInitScript(REPORT_CSP_VIOLATIONS)
  // Chromium also logs a violation it reports nowhere else (a worker's, say) to the console.
  context.on('console', (message) => {
    const text = message.text()
    if (text.startsWith('cohort-csp-violation') || /Content Security Policy/i.test(text)) {
      cspViolations.push(`${message.location().url}: ${text.slice(0, 300)}`)
    }
  })
  if (options.initScript) await context.addInitScript(options.initScript)
  return context
}

/** The host creates a room from the landing page; returns its dashboard page and the join URL it shows. */
export async function createRoomAsHost(
  browser: Browser,
  server: CohortServer,
  options: MemberOptions = {},
) {
  const context = await newMemberContext(browser, options)
  const page = await context.newPage()
  await page.goto(server.url)
  await page.getByTestId('create-room').click()
  await page.waitForURL(/\/host\/[0-9A-Z]{13}$/)
  await expect(page.getByTestId('status')).toHaveAttribute('data-state', 'joined')
  const joinUrl = await page.getByTestId('join-url').getAttribute('href')
  if (!joinUrl) throw new Error('the dashboard shows no join URL')
  return { context, page, joinUrl }
}

/** Opens the join URL in a fresh context and waits until the page is a joined device. */
export async function joinAsDevice(browser: Browser, joinUrl: string, options: MemberOptions = {}) {
  const context = await newMemberContext(browser, options)
  const page = await context.newPage()
  await page.goto(joinUrl)
  // A whole class joining at once shares these two cores: a generous wait, not a timing claim.
  await expect(page.getByTestId('status')).toHaveAttribute('data-state', 'joined', {
    timeout: 30_000,
  })
  const deviceId = await page.getByTestId('device-id').textContent()
  if (!deviceId) throw new Error('the device page shows no device id')
  return { context, page, deviceId }
}

/**
 * Waits until a device page has downloaded, verified, calibrated and profiled its models. Until
 * then its loading takes the shared cores for seconds, long enough for links to miss heartbeats:
 * tests of the mesh and signaling measure those, not model loading.
 */
export async function waitForModelsReady(page: Page): Promise<void> {
  await expect(page.getByTestId('models')).toHaveAttribute('data-phase', 'ready', {
    timeout: 180_000,
  })
}

/** Waits until `page` holds open data channels to exactly `count` peers. */
export async function waitForOpenLinks(page: Page, count: number): Promise<void> {
  await expect(page.locator('tr[data-link="open"]')).toHaveCount(count, { timeout: 30_000 })
}

/** How many members of the next early-exit tier a device links to (the plan's rule). */
export const NEXT_TIER_LINKS = 3

/**
 * Waits until device `page` has a plan of exactly the devices `planned` and holds open links to
 * exactly the members that plan needs, no more: every
 * host and requester, and its early-exit neighbours (a member of one tier with the first
 * NEXT_TIER_LINKS members of the next; those with every member of the tier before). Links under
 * an older plan are retired a few seconds after the plan changes. Returns the linked ids.
 */
export async function waitForPlannedLinks(
  page: Page,
  planned: readonly string[],
  timeout = 90_000,
): Promise<string[]> {
  let linked: string[] = []
  await expect
    .poll(
      async () => {
        const view = await page.evaluate(() => {
          type Handle = {
            cohort: {
              mesh: {
                self: { deviceId: string } | null
                plan: { earlyExit: { tiers: { members: string[] }[] } | null } | null
                peers(): { info: { deviceId: string; role: string }; link: string }[]
              }
            }
          }
          const mesh = (window as unknown as Handle).cohort.mesh
          return {
            self: mesh.self?.deviceId ?? '',
            tiers: (mesh.plan?.earlyExit?.tiers ?? []).map((tier) => tier.members),
            peers: mesh.peers().map((peer) => ({
              id: peer.info.deviceId,
              role: peer.info.role,
              open: peer.link === 'open',
            })),
          }
        })
        const inPlan = [...new Set(view.tiers.flat())].sort()
        if (inPlan.join() !== [...planned].sort().join()) return `its plan has ${inPlan}`
        const mine = view.tiers.findIndex((members) => members.includes(view.self))
        if (mine < 0) return 'not planned'
        const head = (tier: number) => view.tiers[tier]?.slice(0, NEXT_TIER_LINKS) ?? []
        const neighbours = [
          ...head(mine + 1),
          ...(head(mine).includes(view.self) ? (view.tiers[mine - 1] ?? []) : []),
        ]
        const wanted = view.peers
          .filter((peer) => peer.role !== 'device' || neighbours.includes(peer.id))
          .map((peer) => peer.id)
          .sort()
        linked = view.peers
          .filter((peer) => peer.open)
          .map((peer) => peer.id)
          .sort()
        return linked.join() === wanted.join()
          ? 'linked as planned'
          : `open ${linked} wanted ${wanted}`
      },
      { timeout },
    )
    .toBe('linked as planned')
  return linked
}

/** Echoes a random float32 tensor of `floatCount` elements from `page` off every open peer. */
export function echoAll(page: Page, floatCount: number): Promise<EchoOutcome[]> {
  return page.evaluate((count) => {
    const handle = (window as unknown as { cohort?: PageApi }).cohort
    if (!handle) throw new Error('the page exposes no window.cohort')
    return handle.echoAll(count)
  }, floatCount)
}

/** Runs the first `samples` test samples from the dashboard `page` through the room's ensemble. */
export function runSamples(
  page: Page,
  samples: number,
  options: { redundancy?: 'all' | 'hedged'; deadlineMs?: number; window?: number } = {},
): Promise<SampleOutcome[]> {
  const run = {
    samples,
    redundancy: options.redundancy ?? 'all',
    deadlineMs: options.deadlineMs ?? 5_000,
    window: options.window ?? 1,
  }
  return page.evaluate((run) => {
    const handle = (window as unknown as { cohort?: PageApi }).cohort
    if (!handle) throw new Error('the page exposes no window.cohort')
    return handle.host.run(run)
  }, run)
}

/** A V8 heap snapshot of `page` (JS and DOM), as JSON text, taken after a full collection. */
export async function heapSnapshot(page: Page): Promise<string> {
  const cdp = await page.context().newCDPSession(page)
  const chunks: string[] = []
  cdp.on('HeapProfiler.addHeapSnapshotChunk', ({ chunk }) => chunks.push(chunk))
  await cdp.send('HeapProfiler.collectGarbage')
  await cdp.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false })
  await cdp.detach()
  return chunks.join('')
}

/**
 * How many live objects of each named kind (a heap snapshot's node name, e.g.
 * `blink::MediaQuerySet`) `page` holds, counted in a snapshot taken after a full collection.
 */
export async function liveObjectCounts(
  page: Page,
  names: readonly string[],
): Promise<Record<string, number>> {
  const snapshot = JSON.parse(await heapSnapshot(page)) as {
    snapshot: { meta: { node_fields: string[] } }
    nodes: number[]
    strings: string[]
  }
  const width = snapshot.snapshot.meta.node_fields.length
  const nameAt = snapshot.snapshot.meta.node_fields.indexOf('name')
  const counts: Record<string, number> = Object.fromEntries(names.map((name) => [name, 0]))
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const name = snapshot.strings[snapshot.nodes[i + nameAt] ?? 0] ?? ''
    if (name in counts) counts[name] = (counts[name] ?? 0) + 1
  }
  return counts
}

/**
 * Waits until the dashboard `host` holds a plan made from every device of `ids`'s measured
 * profile with every one of them in an ensemble group (earlier plans place unprofiled devices by
 * default). With `linksMeasured`, also until the plan prices every device's link to the host at a
 * measured round trip and bandwidth: the first measurement of a link replans and may regroup, so a
 * test that acts on the groups themselves (freezes one) waits for this; from then on the groups
 * hold still until a device fails.
 */
export async function waitForEnsembleOf(
  host: Page,
  ids: readonly string[],
  { linksMeasured = false }: { linksMeasured?: boolean } = {},
): Promise<void> {
  const planned = (measuredToo: boolean) =>
    host.evaluate((measuredToo) => {
      type PlanHandle = {
        cohort?: {
          mesh?: {
            plan?: {
              devices: { deviceId: string; rttMeasured: boolean; bandwidthMeasured: boolean }[]
              ensemble: { groups: { members: string[] }[] } | null
            } | null
          }
        }
      }
      const plan = (window as PlanHandle).cohort?.mesh?.plan
      const devices = plan?.devices ?? []
      return {
        members: plan?.ensemble?.groups.flatMap((group) => group.members).sort() ?? [],
        profiled: devices.map((device) => device.deviceId).sort(),
        measured:
          !measuredToo ||
          (devices.length > 0 &&
            devices.every((device) => device.rttMeasured && device.bandwidthMeasured)),
      }
    }, measuredToo)
  const all = [...ids].sort()
  await expect
    .poll(() => planned(linksMeasured), { timeout: 240_000 })
    .toEqual({ members: all, profiled: all, measured: true })
}

/** The models each Node device of `processes` last said it holds (its `COHORT_DEVICE_MODELS` lines). */
export function heldModels(...processes: readonly NodeDevices[]): Map<string, string[]> {
  const held = new Map<string, string[]>()
  for (const line of processes.flatMap((process) => process.log)) {
    const match = /^COHORT_DEVICE_MODELS (\S+) ?(\S*)$/.exec(line)
    if (match) held.set(match[1] as string, match[2] ? (match[2] as string).split(',') : [])
  }
  return held
}

/** The models a device page's worker holds now (its Models rows that are loaded). */
export function pageModels(page: Page): Promise<string[]> {
  type Handle = { cohort: { runtime: { state(): { models: { id: string; state: string }[] } } } }
  return page.evaluate(() =>
    (window as unknown as Handle).cohort.runtime
      .state()
      .models.filter((row) => row.state === 'ready')
      .map((row) => row.id),
  )
}

/**
 * The devices (Node devices of `processes`, device `pages`) that do not hold what the
 * dashboard's plan assigns them, or hold more than their bound (cohort's
 * DEFAULT_MAX_LOADED_MODELS): empty once models follow the plan. Each entry says what the device
 * holds and what it was assigned.
 */
export async function modelsMisplaced(
  host: Page,
  devices: {
    readonly processes?: readonly NodeDevices[]
    readonly pages?: readonly { readonly page: Page; readonly deviceId: string }[]
  },
): Promise<string[]> {
  type Handle = {
    cohort: { mesh: { plan: { models: { deviceId: string; assigned: string[] }[] } | null } }
  }
  const models = await host.evaluate(
    () => (window as unknown as Handle).cohort.mesh.plan?.models ?? [],
  )
  const processes = devices.processes ?? []
  const held = heldModels(...processes)
  for (const { page, deviceId } of devices.pages ?? []) held.set(deviceId, await pageModels(page))
  return [
    ...processes.flatMap((process) => process.ids),
    ...(devices.pages ?? []).map((p) => p.deviceId),
  ].flatMap((id) => {
    const mine = held.get(id) ?? []
    const assigned = models.find((entry) => entry.deviceId === id)?.assigned ?? ['(unplanned)']
    const ok =
      assigned.every((model) => mine.includes(model)) && mine.length <= DEFAULT_MAX_LOADED_MODELS
    return ok ? [] : [`${id} holds ${mine.join(',') || 'nothing'}, assigned ${assigned}`]
  })
}

/**
 * Runs the first `samples` test samples from the dashboard `host` through the room's early-exit
 * tiers, at `thresholds` (default: the plan's calibrated ones), and checks each exit and answer
 * against the offline reference: none lost, none degraded.
 */
export async function expectEarlyExitAsReference(
  host: Page,
  manifest: Manifest,
  samples: number,
  thresholds?: readonly number[],
): Promise<void> {
  type Handle = {
    cohort: Pick<PageApi, 'host'> & {
      mesh: { plan: { earlyExit: { thresholds: number[] } | null } | null }
    }
  }
  const alphas =
    thresholds ??
    (await host.evaluate(
      () => (window as unknown as Handle).cohort.mesh.plan?.earlyExit?.thresholds ?? [],
    ))
  const expected = expectAt(manifest, await exitTable(manifest, samples), alphas, samples)
  const early = await host.evaluate(
    (options) => (window as unknown as Handle).cohort.host.runEarlyExit(options),
    { samples, deadlineMs: 5_000, ...(thresholds ? { thresholds: [...thresholds] } : {}) },
  )
  expect(early.filter((o) => o.error !== null || o.degraded)).toEqual([])
  expect(early.map((o) => [o.exitIndex, o.prediction])).toEqual(
    expected.exits.map((exit, i) => [exit, expected.predictions[i]]),
  )
}
