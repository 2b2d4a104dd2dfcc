/**
 * What the benchmark asks of the dashboard page (`window.cohort.host`, see
 * apps/web/src/page-handle.ts): runs of the task's test samples in each mode, their progress,
 * and raw `session.run` timings on the dashboard's own worker.
 */
import type { Page } from '@playwright/test'

/** Ensemble redundancy: every member at once, or the best first and the next when it is late. */
export type Redundancy = 'all' | 'hedged'

/** One request's outcome, whatever the mode (the fields a mode has not are absent). */
export interface RequestOutcome {
  readonly label: number
  readonly prediction: number | null
  readonly latencyMs: number
  readonly error: string | null
  readonly degraded?: boolean
  readonly deadlineExit?: boolean
  readonly exitIndex?: number | null
  readonly bytes?: number
  readonly cost?: number
}

interface HostApi {
  run(options: {
    samples: number
    redundancy: Redundancy
    deadlineMs: number
    window?: number
  }): Promise<RequestOutcome[]>
  runSingle(options: {
    samples: number
    deviceId: string
    deadlineMs: number
    window?: number
  }): Promise<RequestOutcome[]>
  runEarlyExit(options: {
    samples: number
    deadlineMs: number
    thresholds?: readonly number[]
    window?: number
  }): Promise<RequestOutcome[]>
  runCloudOnly(options: {
    samples: number
    deviceId: string
    deadlineMs: number
  }): Promise<RequestOutcome[]>
  predictEarlyExit(thresholds: readonly number[]): Promise<unknown>
  stats(): { done: number }
  earlyExitStats(): { done: number }
}
interface RuntimeApi {
  manifest(): { models: { id: string; inputs: { name: string; shape: (number | string)[] }[] }[] }
  client: {
    benchmark(
      id: string,
      inputs: Record<string, { data: Float32Array; dims: number[] }>,
      runs: number,
    ): Promise<{ ms: number[] }>
  }
}
type HostWindow = Window & { cohort: { host: HostApi; runtime: RuntimeApi } }

// The bodies below run in the page: they may use only their arguments and the page's globals.

/** Ensemble requests (RoCoIn) through the planned groups. */
export function runEnsemble(
  page: Page,
  options: { samples: number; redundancy: Redundancy; deadlineMs: number; window?: number },
): Promise<RequestOutcome[]> {
  return page.evaluate((o) => (window as unknown as HostWindow).cohort.host.run(o), options)
}

/** The whole teacher on one device: no redundancy. */
export function runSingle(
  page: Page,
  options: { samples: number; deviceId: string; deadlineMs: number; window?: number },
): Promise<RequestOutcome[]> {
  return page.evaluate((o) => (window as unknown as HostWindow).cohort.host.runSingle(o), options)
}

/** Early-exit requests (DistrEE/DIMEE): the dashboard is the mobile tier. */
export function runEarlyExit(
  page: Page,
  options: {
    samples: number
    deadlineMs: number
    thresholds?: readonly number[]
    window?: number
  },
): Promise<RequestOutcome[]> {
  return page.evaluate(
    (o) => (window as unknown as HostWindow).cohort.host.runEarlyExit(o),
    options,
  )
}

/** Every sample whole to one device, which runs every segment. */
export function runCloudOnly(
  page: Page,
  options: { samples: number; deviceId: string; deadlineMs: number },
): Promise<RequestOutcome[]> {
  return page.evaluate(
    (o) => (window as unknown as HostWindow).cohort.host.runCloudOnly(o),
    options,
  )
}

/**
 * Has the dashboard measure every exit's confidence on the shipped sample (it does so once, in
 * the background on its own worker, to predict threshold overrides): awaited before timing so
 * that work does not share the worker with timed requests.
 */
export async function settleExitProfile(page: Page, thresholds: readonly number[]): Promise<void> {
  await page.evaluate(
    (t) => (window as unknown as HostWindow).cohort.host.predictEarlyExit(t),
    thresholds,
  )
}

/** Resolves once the running ensemble or early-exit run has finished `count` requests. */
export async function waitForDone(
  page: Page,
  run: 'ensemble' | 'early-exit',
  count: number,
): Promise<number> {
  const handle = await page.waitForFunction(
    ({ run, count }) => {
      const host = (window as unknown as HostWindow).cohort.host
      const done = run === 'ensemble' ? host.stats().done : host.earlyExitStats().done
      return done >= count ? done : null
    },
    { run, count },
    { timeout: 300_000, polling: 20 },
  )
  return (await handle.jsonValue()) as number
}

/** Raw `session.run` of every model of the task, `runs` times each, in the dashboard's worker. */
export async function modelTimings(page: Page, runs: number): Promise<Record<string, number[]>> {
  return page.evaluate(async (runs) => {
    const { runtime } = (window as unknown as HostWindow).cohort
    const timings: Record<string, number[]> = {}
    for (const model of runtime.manifest().models) {
      const inputs = Object.fromEntries(
        model.inputs.map((input) => {
          const dims = input.shape.map((d) => (typeof d === 'number' ? d : 1))
          const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.5)
          return [input.name, { data, dims }]
        }),
      )
      timings[model.id] = (await runtime.client.benchmark(model.id, inputs, runs)).ms
    }
    return timings
  }, runs)
}
