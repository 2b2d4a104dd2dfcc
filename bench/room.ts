/**
 * A benchmark room: the coordinator, one headless Chromium, the dashboard page (the requester)
 * and N device pages, each a browser context of its own, as a classroom's phones would be.
 * Every page counts the bytes its data channels send (WebRTC stats), so scenarios can report
 * bytes on the wire per request.
 */
import type { Browser, BrowserContext, CDPSession, Page } from '@playwright/test'
import { type CohortServer, createRoomAsHost, joinAsDevice } from '../e2e/harness.ts'

/** How long a room may take to load every device's models and plan them (2 busy cores). */
const PLAN_TIMEOUT_MS = 600_000

/** A member page of the room. */
export interface Member {
  readonly deviceId: string
  readonly context: BrowserContext
  readonly page: Page
  cdp: CDPSession | null
}

/** The plan as the dashboard holds it (only what the benchmark reads). */
export interface PlanView {
  readonly version: number
  readonly ensemble: {
    readonly k: number
    readonly pinnedK: number | null
    readonly predictedLatencyMs: number
    readonly capacityRps: number
    readonly resilienceMet: boolean
    readonly combiner: string
    readonly groups: readonly { readonly slice: number; readonly members: readonly string[] }[]
  } | null
  readonly earlyExit: {
    readonly tiers: readonly { readonly tier: string; readonly members: readonly string[] }[]
    readonly expectedRemoteMs: number
    readonly capacityRps: number
  } | null
}

type PlanWindow = Window & { cohort?: { mesh: { plan: PlanView | null } } }
type CountingWindow = Window & { __cohortBenchPeerConnections?: RTCPeerConnection[] }

/**
 * Runs before any page script: keeps every RTCPeerConnection the page makes (simple-peer's
 * included) so the benchmark can sum their data channels' bytes. A plain string, because
 * it must exist before the page's own code.
 */
const COUNT_PEER_CONNECTIONS = `(() => {
  const Native = globalThis.RTCPeerConnection
  if (!Native) return
  const all = []
  globalThis.__cohortBenchPeerConnections = all
  globalThis.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); all.push(this) }
  }
})()`

/** The room; devices can be added, closed, frozen and slowed down. */
export class Room {
  readonly devices = new Map<string, Member>()

  private constructor(
    private readonly browser: Browser,
    readonly host: Member,
    private readonly joinUrl: string,
    private readonly query: string,
  ) {}

  /** Creates a room on `server` with `devices` device pages, all on `task` with `threads` WASM threads. */
  static async open(
    browser: Browser,
    server: CohortServer,
    options: { task: string; threads: number; devices: number },
  ): Promise<Room> {
    const created = await createRoomAsHost(browser, server, {
      initScript: COUNT_PEER_CONNECTIONS,
    })
    const query = `?task=${options.task}&threads=${options.threads}`
    // Reload on the benchmark's task and thread count.
    await created.page.goto(`${created.page.url()}${query}`)
    const room = new Room(
      browser,
      { deviceId: 'dashboard', context: created.context, page: created.page, cdp: null },
      created.joinUrl,
      query,
    )
    await room.addDevices(options.devices)
    return room
  }

  /** Joins `count` new device pages, one after the other (as people arrive). */
  async addDevices(count: number): Promise<string[]> {
    const ids: string[] = []
    for (let i = 0; i < count; i++) {
      const { context, page, deviceId } = await joinAsDevice(
        this.browser,
        `${this.joinUrl}${this.query}`,
        { initScript: COUNT_PEER_CONNECTIONS },
      )
      this.devices.set(deviceId, { deviceId, context, page, cdp: null })
      ids.push(deviceId)
    }
    return ids
  }

  /** Waits until the plan puts exactly the room's devices into ensemble groups and exit tiers. */
  async waitPlanned(): Promise<PlanView> {
    const ids = [...this.devices.keys()].sort()
    await this.host.page.waitForFunction(
      (ids) => {
        const plan = (window as PlanWindow).cohort?.mesh.plan
        const grouped = plan?.ensemble?.groups.flatMap((g) => g.members).sort() ?? []
        const tiered = plan?.earlyExit?.tiers.flatMap((t) => t.members).sort() ?? []
        return (
          JSON.stringify(grouped) === JSON.stringify(ids) &&
          JSON.stringify(tiered) === JSON.stringify(ids)
        )
      },
      ids,
      { timeout: PLAN_TIMEOUT_MS, polling: 250 },
    )
    return this.plan()
  }

  /**
   * Pins the ensemble's K from the dashboard's own control (null: the planner chooses again) and
   * waits for the plan that has it with every device grouped. A K the room cannot form fails.
   */
  async pinK(k: number | null): Promise<PlanView> {
    await this.host.page.getByTestId('ensemble-k').selectOption(k === null ? 'auto' : String(k))
    const ids = [...this.devices.keys()].sort()
    await this.host.page.waitForFunction(
      ({ k, ids }) => {
        const ensemble = (window as PlanWindow).cohort?.mesh.plan?.ensemble
        const grouped = ensemble?.groups.flatMap((g) => g.members).sort() ?? []
        return (
          ensemble?.pinnedK === k &&
          (k === null || ensemble.k === k) &&
          JSON.stringify(grouped) === JSON.stringify(ids)
        )
      },
      { k, ids },
      { timeout: PLAN_TIMEOUT_MS, polling: 250 },
    )
    return this.plan()
  }

  /** The dashboard's current plan. */
  async plan(): Promise<PlanView> {
    const plan = await this.host.page.evaluate(
      () => (window as PlanWindow).cohort?.mesh.plan ?? null,
    )
    if (!plan?.ensemble || !plan.earlyExit) throw new Error('the room has no complete plan')
    return plan
  }

  /** The page of a device. */
  member(deviceId: string): Member {
    const member = this.devices.get(deviceId)
    if (!member) throw new Error(`no device ${deviceId} in the room`)
    return member
  }

  /** Closes a device's context: its page, socket and data channels vanish at once. */
  async close(deviceId: string): Promise<void> {
    const member = this.member(deviceId)
    this.devices.delete(deviceId)
    await member.context.close()
  }

  /**
   * Freezes a device's page: its script stops in the debugger, so its socket and data channels
   * stay open but nothing answers, not even heartbeats (a phone that hung or walked out of range).
   */
  async freeze(deviceId: string): Promise<void> {
    const member = this.member(deviceId)
    member.cdp ??= await member.context.newCDPSession(member.page)
    await member.cdp.send('Debugger.enable')
    await member.cdp.send('Debugger.pause')
  }

  /**
   * Makes a device's runtime `factor` times slower (1: its real speed): each run computes, then
   * waits (factor − 1) times its compute. (DevTools CPU throttling does not reach the worker.)
   */
  async slowDown(deviceId: string, factor: number): Promise<void> {
    const info = await this.member(deviceId).page.evaluate(async (f) => {
      type Handle = {
        cohort?: { runtime?: { setSlowdown(f: number): Promise<{ slowdown: number }> } }
      }
      const runtime = (window as unknown as Handle).cohort?.runtime
      if (!runtime) throw new Error('the device page exposes no runtime')
      return runtime.setSlowdown(f)
    }, factor)
    if (info.slowdown !== factor)
      throw new Error(`${deviceId} runs at ${info.slowdown}×, not ${factor}×`)
  }

  /** Data-channel bytes sent so far by every open page of the room. */
  async bytesSent(): Promise<number> {
    const pages = [this.host, ...this.devices.values()].map((member) => member.page)
    const counts = await Promise.all(
      pages.map((page) =>
        page.evaluate(async () => {
          let sent = 0
          for (const pc of (window as CountingWindow).__cohortBenchPeerConnections ?? []) {
            if (pc.connectionState === 'closed') continue
            const stats = await pc.getStats()
            stats.forEach((report: { type: string; bytesSent?: number }) => {
              if (report.type === 'data-channel') sent += report.bytesSent ?? 0
            })
          }
          return sent
        }),
      ),
    )
    return counts.reduce((sum, count) => sum + count, 0)
  }
}
