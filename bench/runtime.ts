/**
 * Runtime benchmark: in one headless Chromium device page, per shipped model (batch 1),
 * - raw `session.run` in the worker, back to back (no messaging): the compute floor,
 * - the full RuntimeClient round trip from the page (input copy, postMessage, queue, run,
 *   output transfer, validation),
 * as median and p95, and the ratio of the medians. Also: the execution-provider choice and the
 * time from a killed worker to the next successful call.
 * Each task runs with the page's own thread count and with 1 thread (BENCH_THREADS=auto,1).
 * Writes bench/results/runtime-<date>.json and prints a Markdown table.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { chromium, type Page } from '@playwright/test'
import { createRoomAsHost, newMemberContext, startCohortServer } from '../e2e/harness.ts'
import { chromiumArgs } from '../playwright.config.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 200)
const TASKS = (process.env.BENCH_TASKS ?? 'digits,fashion').split(',')
// 'auto' is the device page's own choice (up to 4 when cross-origin isolated); 1 is the floor
// without a thread pool, to show what the pool costs or gains on this machine.
const THREAD_SETS = (process.env.BENCH_THREADS ?? 'auto,1').split(',')

interface Timing {
  modelId: string
  medianMs: number
  p95Ms: number
  roundTripMedianMs: number
  roundTripP95Ms: number
  runs: number
}
interface Profile {
  label: string
  executionProvider: string
  epReason: string
  threads: number
  cores: number | null
  crossOriginIsolated: boolean
  models: Timing[]
}
interface Handle {
  whenReady(): Promise<unknown>
  profile(runs: number): Promise<Profile>
  crashWorker(): void
  runReference(): Promise<{ attempts: number[] }>
}
type BenchWindow = Window & { cohort?: { runtime?: Handle } }

async function measureTask(page: Page, task: string) {
  const ready = await page.evaluate(async () => {
    const runtime = (window as BenchWindow).cohort?.runtime
    if (!runtime) return false
    await runtime.whenReady()
    return true
  })
  if (!ready) throw new Error('the device page exposes no runtime')
  const profile = await page.evaluate(
    (runs) => (window as BenchWindow).cohort?.runtime?.profile(runs) as Promise<Profile>,
    RUNS,
  )
  // A killed worker: time until a full reference pass (its first run retried on a new worker) is done.
  const recovery = await page.evaluate(async () => {
    const runtime = (window as BenchWindow).cohort?.runtime as Handle
    const t0 = performance.now()
    runtime.crashWorker()
    const report = await runtime.runReference()
    return { ms: performance.now() - t0, attempts: report.attempts[0] ?? 0 }
  })
  return { task, profile, recovery }
}

async function main() {
  const server = await startCohortServer()
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: chromiumArgs,
  })
  try {
    const host = await createRoomAsHost(browser, server)
    const results = []
    for (const [task, threadSet] of TASKS.flatMap((t) => THREAD_SETS.map((n) => [t, n] as const))) {
      const context = await newMemberContext(browser)
      const page = await context.newPage()
      const threads = threadSet === 'auto' ? '' : `&threads=${threadSet}`
      await page.goto(`${host.joinUrl}?task=${task}${threads}`)
      await page.getByTestId('models').waitFor()
      // A task that is not shipped fails fast on the page; skip it rather than hang.
      const phase = await page
        .waitForFunction(
          () => {
            const p = document.querySelector('[data-testid="models"]')?.getAttribute('data-phase')
            return p === 'ready' || p === 'failed' ? p : null
          },
          undefined,
          { timeout: 180_000 },
        )
        .then((h) => h.jsonValue())
      if (phase !== 'ready') {
        console.error(`skipping ${task}: the runtime failed on the page`)
        await context.close()
        continue
      }
      results.push(await measureTask(page, task))
      await context.close()
    }
    const date = new Date().toISOString().slice(0, 10)
    const report = {
      date,
      machine:
        'headless Chromium (Debian), 2 shared cores, no GPU; one device page; no CPU throttling',
      runsPerModel: RUNS,
      batch: 1,
      results,
    }
    mkdirSync('bench/results', { recursive: true })
    const file = `bench/results/runtime-${date}.json`
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
    for (const r of results) {
      const p = r.profile
      console.log(
        `\n### ${r.task}: ${p.executionProvider} × ${p.threads} threads, ${p.label}, cross-origin isolated: ${p.crossOriginIsolated}`,
      )
      console.log(`EP choice: ${p.epReason}`)
      console.log(
        `Killed worker → next reference pass done in ${r.recovery.ms.toFixed(0)} ms (first run took ${r.recovery.attempts} attempts)\n`,
      )
      console.log(
        '| model | raw run median ms | raw p95 ms | round trip median ms | round trip p95 ms | overhead median ms | ratio |',
      )
      console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
      for (const m of p.models) {
        console.log(
          `| ${m.modelId} | ${m.medianMs.toFixed(3)} | ${m.p95Ms.toFixed(3)} | ${m.roundTripMedianMs.toFixed(3)} | ${m.roundTripP95Ms.toFixed(3)} | ${(m.roundTripMedianMs - m.medianMs).toFixed(3)} | ${(m.roundTripMedianMs / m.medianMs).toFixed(2)}× |`,
        )
      }
    }
    console.log(`\nwrote ${file}`)
  } finally {
    await browser.close()
    await server.stop()
  }
}

await main()
