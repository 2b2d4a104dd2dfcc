import { type Browser, devices as descriptors, expect, type Page } from '@playwright/test'
import {
  type CohortServer,
  createRoomAsHost,
  joinAsDevice,
  modelsMisplaced,
  NEXT_TIER_LINKS,
  type NodeDevices,
  startNodeDevices,
  waitForEnsembleOf,
  waitForModelsReady,
} from './harness.ts'

/**
 * A classroom, as the classroom e2e test and the scale benchmark form it: a dashboard, browser
 * pages (some with a phone's viewport and touch) and Node device processes, all joining at once;
 * with the times at which everyone was ready, the first plan came and the plan covered everyone.
 */

/** Who is in the class. */
export interface ClassroomOptions {
  readonly task: string
  /** Browser device pages; the first `phones` of them are Pixel 7s. */
  readonly pages: number
  readonly phones: number
  /** Node devices per process (`npm run device -- --devices N`). */
  readonly nodeProcesses: readonly number[]
}

/** ms from the first join. */
export interface ClassroomTimeline {
  /** Every page's models loaded and profiled, and every Node device serving. */
  readonly readyMs: number
  /** The first plan with a device in it reached the dashboard. */
  readonly firstPlanMs: number
  /** The dashboard holds a plan of every device. */
  readonly plannedMs: number
  /** Every Node device holds the models that plan assigns it (pages keep all of theirs). */
  readonly modelsMs: number
  /** The dashboard holds an open link to every device: requests go out at once. */
  readonly linkedMs: number
  /** Plan versions the dashboard received from the first join to the plan of everyone. */
  readonly planVersions: number
}

/** A formed classroom. */
export interface Classroom {
  readonly host: Awaited<ReturnType<typeof createRoomAsHost>>
  /** The join URL devices use (task and one thread per page: the cores are shared). */
  readonly joinUrl: string
  readonly pages: Awaited<ReturnType<typeof joinAsDevice>>[]
  readonly nodes: NodeDevices[]
  /** Every device id, pages first. */
  readonly ids: string[]
  readonly timeline: ClassroomTimeline
}

/** Plans as the dashboard received them: when, and how many devices they held. */
type PlanLog = { at: number; devices: number; version: number }[]
type RecorderWindow = {
  cohortPlanLog?: PlanLog
  cohort: {
    mesh: {
      subscribe(
        listener: (event: { type: string; plan?: { devices: unknown[]; version: number } }) => void,
      ): unknown
    }
  }
}

/** A Pixel 7's viewport, touch and user agent, for a context (Playwright's descriptor). */
export function phoneContext() {
  const { defaultBrowserType: _, ...phone } = descriptors['Pixel 7']
  return phone
}

/** Creates a room and has the whole class join it at once; resolves once everyone is planned. */
export async function formClassroom(
  browser: Browser,
  server: CohortServer,
  options: ClassroomOptions,
): Promise<Classroom> {
  const host = await createRoomAsHost(browser, server)
  await host.page.goto(`${host.page.url()}?task=${options.task}&threads=1`)
  await recordPlans(host.page)
  const joinUrl = `${host.joinUrl}?task=${options.task}&threads=1`
  const started = Date.now()
  const joiningNodes = options.nodeProcesses.map((count) =>
    startNodeDevices(joinUrl, ['--devices', String(count), '--per-process', String(count)]),
  )
  // Everyone at once, as a class opening the link: pages and Node processes alike.
  const pages = await Promise.all(
    Array.from({ length: options.pages }, (_, i) =>
      joinAsDevice(browser, joinUrl, i < options.phones ? { contextOptions: phoneContext() } : {}),
    ),
  )
  const nodes = await Promise.all(joiningNodes)
  for (const page of pages) await waitForModelsReady(page.page)
  const readyMs = Date.now() - started
  const ids = [...pages.map((page) => page.deviceId), ...nodes.flatMap((node) => node.ids)]
  await waitForEnsembleOf(host.page, ids)
  const plannedMs = Date.now() - started
  await expect
    .poll(() => modelsMisplaced(host.page, { processes: nodes, pages }), { timeout: 60_000 })
    .toEqual([])
  const modelsMs = Date.now() - started
  // A link of the 50 may be re-forming at any moment (a blip on these shared cores): poll.
  await expect.poll(() => hostOpenLinks(host.page), { timeout: 60_000 }).toBe(ids.length)
  const linkedMs = Date.now() - started
  const plans = await host.page.evaluate(
    () => (window as unknown as RecorderWindow).cohortPlanLog ?? [],
  )
  const sinceJoin = plans.filter((plan) => plan.at >= started && plan.devices > 0)
  return {
    host,
    joinUrl,
    pages,
    nodes,
    ids,
    timeline: {
      readyMs,
      firstPlanMs: (sinceJoin[0]?.at ?? Number.NaN) - started,
      plannedMs,
      modelsMs,
      linkedMs,
      planVersions: sinceJoin.length,
    },
  }
}

/** Starts logging, in the dashboard, every plan it receives (time and size). */
async function recordPlans(host: Page): Promise<void> {
  await host.evaluate(() => {
    const w = window as unknown as RecorderWindow
    const log: PlanLog = []
    w.cohortPlanLog = log
    w.cohort.mesh.subscribe((event) => {
      if (event.type === 'plan' && event.plan)
        log.push({
          at: Date.now(),
          devices: event.plan.devices.length,
          version: event.plan.version,
        })
    })
  })
}

/** The early-exit tiers of the dashboard's plan. */
export function tiersOf(host: Page) {
  return host.evaluate(() => {
    type Handle = {
      cohort: {
        mesh: {
          plan: {
            earlyExit: { tiers: { tier: string; members: string[] }[]; thresholds: number[] } | null
          } | null
        }
      }
    }
    return (window as unknown as Handle).cohort.mesh.plan?.earlyExit ?? null
  })
}

/** The dashboard's open links. */
export function hostOpenLinks(host: Page) {
  return host.evaluate(() => {
    type Handle = { cohort: { mesh: { peers(): { link: string }[] } } }
    return (window as unknown as Handle).cohort.mesh.peers().filter((peer) => peer.link === 'open')
      .length
  })
}

/**
 * The links the plan asks for: the dashboard with every device, and every member of a tier with
 * the first NEXT_TIER_LINKS members of the next (ensemble groups need no links between devices).
 */
export function plannedLinkCount(
  devices: number,
  tiers: readonly { readonly members: readonly string[] }[],
): number {
  let between = 0
  for (let t = 0; t + 1 < tiers.length; t++)
    between +=
      (tiers[t]?.members.length ?? 0) * Math.min(NEXT_TIER_LINKS, tiers[t + 1]?.members.length ?? 0)
  return devices + between
}
