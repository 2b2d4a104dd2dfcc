/**
 * Runtime micro-benchmark: in one device page of its own, per shipped model (batch 1), raw
 * `session.run` in the worker back to back (the compute floor) vs the full RuntimeClient round
 * trip from the page (copy, postMessage, queue, run, transfer, validation); and the time from
 * a killed worker to the next successful reference pass. Once per thread setting ('auto' is
 * the page's own choice, 1 is the floor without a thread pool).
 */
import type { Browser } from '@playwright/test'
import { type CohortServer, createRoomAsHost, newMemberContext } from '../e2e/harness.ts'
import type { RuntimeResult } from './report-types.ts'

/** How long a device page may take to start its runtime (2 busy cores). */
const START_TIMEOUT_MS = 120_000

interface Profile {
  executionProvider: string
  engine: { crossOriginIsolated: boolean }
  models: {
    modelId: string
    medianMs: number
    p95Ms: number
    roundTripMedianMs: number
    roundTripP95Ms: number
  }[]
}
interface Handle {
  whenReady(): Promise<unknown>
  profile(runs: number): Promise<Profile>
  crashWorker(): void
  runReference(): Promise<unknown>
}
type RuntimeWindow = Window & { cohort?: { runtime?: Handle } }

/** Measures every model of `task` once per thread setting. */
export async function measureRuntime(
  browser: Browser,
  server: CohortServer,
  options: { task: string; runs: number; threadSets: readonly string[] },
): Promise<RuntimeResult[]> {
  const host = await createRoomAsHost(browser, server)
  const results: RuntimeResult[] = []
  try {
    for (const threads of options.threadSets) {
      const context = await newMemberContext(browser)
      try {
        const page = await context.newPage()
        const query = threads === 'auto' ? '' : `&threads=${threads}`
        await page.goto(`${host.joinUrl}?task=${options.task}${query}`)
        // The page exposes its runtime once it has started loading the task's models.
        await page.waitForFunction(
          () => (window as RuntimeWindow).cohort?.runtime !== undefined,
          undefined,
          {
            timeout: START_TIMEOUT_MS,
          },
        )
        const profile = await page.evaluate(async (runs) => {
          const runtime = (window as RuntimeWindow).cohort?.runtime
          if (!runtime) throw new Error('the device page exposes no runtime')
          await runtime.whenReady()
          return runtime.profile(runs)
        }, options.runs)
        const recoveryMs = await page.evaluate(async () => {
          const runtime = (window as RuntimeWindow).cohort?.runtime as Handle
          const started = performance.now()
          runtime.crashWorker()
          await runtime.runReference()
          return performance.now() - started
        })
        results.push({
          threads,
          executionProvider: profile.executionProvider,
          crossOriginIsolated: profile.engine.crossOriginIsolated,
          models: profile.models.map((m) => ({
            modelId: m.modelId,
            rawMs: m.medianMs,
            rawP95Ms: m.p95Ms,
            roundTripMs: m.roundTripMedianMs,
            roundTripP95Ms: m.roundTripP95Ms,
          })),
          recoveryMs,
        })
        console.error(`runtime ${options.task} threads=${threads}: ${profile.models.length} models`)
      } finally {
        await context.close()
      }
    }
  } finally {
    await host.context.close()
  }
  return results
}
