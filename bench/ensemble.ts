/**
 * Ensemble benchmark (RoCoIn), one run, headless Chromium pages on this machine:
 * - the single-device teacher (no redundancy) vs ensemble requests (`all`, `hedged`) through
 *   the planned groups, latency p50/p95;
 * - the floor measured in the same run: the slowest group's raw compute + a raw data-channel
 *   round trip + the combiner as the requester runs it;
 * - the same with one member of every group slowed 6x by DevTools CPU throttling: redundancy
 *   should hide the stragglers.
 * Devices share two cores, so absolute numbers are a loaded machine's; compare the ratios.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { chromium, type Page } from '@playwright/test'
import { createRoomAsHost, joinAsDevice, startCohortServer } from '../e2e/harness.ts'
import { chromiumArgs } from '../playwright.config.ts'

const TASK = process.env.BENCH_TASK ?? 'fashion'
const DEVICES = Number(process.env.BENCH_DEVICES ?? 6)
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200)
const THROTTLE = 6
// Every page gets this many WASM threads: seven pages on two cores must not fight over threads.
const THREADS = Number(process.env.BENCH_THREADS ?? 1)
const QUERY = `?task=${TASK}&threads=${THREADS}`

interface Outcome {
  latencyMs: number
  error: string | null
  degraded?: boolean
  winners?: { slice: number; deviceId: string; computeMs: number }[]
}
interface Plan {
  version: number
  ensemble: { k: number; combiner: string; groups: { slice: number; members: string[] }[] } | null
}
type Host = {
  cohort: {
    mesh: {
      plan: Plan | null
      request(
        peer: string,
        method: string,
        tensors: unknown[],
        options: { deadlineMs: number },
      ): Promise<{ ok: boolean }>
    }
    runtime: {
      client: {
        run(
          id: string,
          inputs: Record<string, { data: Float32Array; dims: number[] }>,
        ): Promise<{ roundTripMs: number }>
      }
    }
    host: {
      run(options: {
        samples: number
        redundancy: 'all' | 'hedged'
        deadlineMs: number
      }): Promise<Outcome[]>
      runSingle(options: {
        samples: number
        deviceId: string
        deadlineMs: number
      }): Promise<Outcome[]>
    }
  }
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}
const summary = (outcomes: Outcome[]) => {
  const ok = outcomes.filter((outcome) => outcome.error === null)
  const latencies = ok.map((outcome) => outcome.latencyMs)
  return {
    p50Ms: quantile(latencies, 0.5),
    p95Ms: quantile(latencies, 0.95),
    errors: outcomes.length - ok.length,
    degraded: ok.filter((outcome) => outcome.degraded).length,
  }
}

const planOf = (page: Page) => page.evaluate(() => (window as unknown as Host).cohort.mesh.plan)

async function scenarios(host: Page, singleDevice: string) {
  const single = await host.evaluate(
    ({ samples, deviceId }) =>
      (window as unknown as Host).cohort.host.runSingle({ samples, deviceId, deadlineMs: 10_000 }),
    { samples: SAMPLES, deviceId: singleDevice },
  )
  const all = await host.evaluate(
    (samples) =>
      (window as unknown as Host).cohort.host.run({
        samples,
        redundancy: 'all',
        deadlineMs: 10_000,
      }),
    SAMPLES,
  )
  const hedged = await host.evaluate(
    (samples) =>
      (window as unknown as Host).cohort.host.run({
        samples,
        redundancy: 'hedged',
        deadlineMs: 10_000,
      }),
    SAMPLES,
  )
  return { single, all, hedged }
}

async function main(): Promise<void> {
  const server = await startCohortServer()
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: chromiumArgs,
  })
  try {
    const host = await createRoomAsHost(browser, server)
    await host.page.goto(`${host.page.url()}${QUERY}`)
    const devices = []
    for (let i = 0; i < DEVICES; i++)
      devices.push(await joinAsDevice(browser, `${host.joinUrl}${QUERY}`))
    const ids = devices.map((device) => device.deviceId).sort()
    for (;;) {
      const plan = await planOf(host.page)
      const planned = plan?.ensemble?.groups.flatMap((group) => group.members).sort() ?? []
      if (JSON.stringify(planned) === JSON.stringify(ids)) break
      await host.page.waitForTimeout(500) // polling the page's state, not synchronising a test
    }
    const plan = (await planOf(host.page)) as Plan
    const ensemble = plan.ensemble
    if (!ensemble) throw new Error('no ensemble plan')
    console.error(
      `plan v${plan.version}: K=${ensemble.k}, groups ${ensemble.groups.map((g) => g.members.length).join('+')}`,
    )
    const fastest = ensemble.groups[0]?.members[0] ?? ''
    await host.page.evaluate(() =>
      (window as unknown as Host).cohort.host.run({
        samples: 20,
        redundancy: 'all',
        deadlineMs: 10_000,
      }),
    )

    const normal = await scenarios(host.page, fastest)
    // The floor's parts, measured now on the same pages.
    const pings = await host.page.evaluate(
      async ({ peer, samples }) => {
        const { mesh } = (window as unknown as Host).cohort
        const data = new Float32Array(4)
        const times: number[] = []
        for (let i = 0; i < samples; i++) {
          const started = performance.now()
          await mesh.request(peer, 'echo', [{ name: 'x', dtype: 'float32', dims: [4], data }], {
            deadlineMs: 5_000,
          })
          times.push(performance.now() - started)
        }
        return times
      },
      { peer: fastest, samples: SAMPLES },
    )
    const combinerMs = await host.page.evaluate(
      async ({ combiner, slices, samples }) => {
        const { client } = (window as unknown as Host).cohort.runtime
        const inputs = Object.fromEntries(
          slices.map((size, slice) => [
            `slice_${slice}`,
            { data: new Float32Array(size), dims: [1, size] },
          ]),
        )
        const times: number[] = []
        for (let i = 0; i < samples; i++)
          times.push((await client.run(combiner, inputs)).roundTripMs)
        return times
      },
      {
        combiner: ensemble.combiner,
        slices: await host.page.evaluate(async (task) => {
          const manifest = await (await fetch(`/models/${task}/manifest.json`)).json()
          const plan = (window as unknown as Host).cohort.mesh.plan
          return manifest.ensembles.find((e: { k: number }) => e.k === plan?.ensemble?.k)
            .sliceSizes as number[]
        }, TASK),
        samples: SAMPLES,
      },
    )
    const slowestCompute = normal.all
      .filter((outcome) => outcome.winners && outcome.winners.length > 0)
      .map((outcome) => Math.max(...(outcome.winners ?? []).map((winner) => winner.computeMs)))
    const floorMs = quantile(slowestCompute, 0.5) + quantile(pings, 0.5) + quantile(combinerMs, 0.5)

    // One member of every group slowed down.
    const throttled: string[] = []
    for (const group of ensemble.groups) {
      const member = group.members[0]
      const device = devices.find((candidate) => candidate.deviceId === member)
      if (!device || !member) continue
      const cdp = await device.context.newCDPSession(device.page)
      await cdp.send('Emulation.setCPUThrottlingRate', { rate: THROTTLE })
      throttled.push(member)
    }
    const slowed = await scenarios(host.page, fastest)

    const row = (name: string, outcomes: Outcome[]) => ({ name, ...summary(outcomes) })
    const result = {
      date: new Date().toISOString(),
      machine: `${DEVICES} devices + host as headless Chromium contexts in one browser, 2 shared cores, WASM, ${THREADS} thread(s) per page`,
      task: TASK,
      samples: SAMPLES,
      plan: {
        version: plan.version,
        k: ensemble.k,
        groups: ensemble.groups.map((group) => group.members.length),
      },
      floor: {
        medianMs: floorMs,
        slowestGroupComputeMs: quantile(slowestCompute, 0.5),
        pingMs: quantile(pings, 0.5),
        combinerMs: quantile(combinerMs, 0.5),
      },
      normal: [
        row('single teacher', normal.single),
        row('ensemble all', normal.all),
        row('ensemble hedged', normal.hedged),
      ],
      throttled: {
        rate: THROTTLE,
        devices: throttled,
        rows: [
          row('single teacher (throttled device)', slowed.single),
          row('ensemble all', slowed.all),
          row('ensemble hedged', slowed.hedged),
        ],
      },
    }
    mkdirSync('bench/results', { recursive: true })
    const file = `bench/results/ensemble-${result.date.slice(0, 10)}.json`
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`)
    const f = (n: number) => n.toFixed(2)
    const lines = [
      `Task ${TASK}, K=${ensemble.k}, groups ${result.plan.groups.join('+')}, ${SAMPLES} samples per row.`,
      `Floor (median): slowest group compute ${f(result.floor.slowestGroupComputeMs)} ms + data-channel round trip ${f(result.floor.pingMs)} ms + combiner ${f(result.floor.combinerMs)} ms = ${f(floorMs)} ms.`,
      '',
      '| scenario | p50 ms | p95 ms | p50 / floor | p50 / single | degraded | errors |',
      '| --- | --- | --- | --- | --- | --- | --- |',
    ]
    for (const [label, rows] of [
      ['', result.normal],
      [`, 1 member per group throttled ${THROTTLE}x`, result.throttled.rows],
    ] as const) {
      const singleP50 = rows[0]?.p50Ms ?? Number.NaN
      for (const r of rows) {
        lines.push(
          `| ${r.name}${label} | ${f(r.p50Ms)} | ${f(r.p95Ms)} | ${f(r.p50Ms / floorMs)}x | ${f(r.p50Ms / singleP50)}x | ${r.degraded} | ${r.errors} |`,
        )
      }
    }
    lines.push('', `Written to ${file}.`)
    console.log(lines.join('\n'))
  } finally {
    await browser.close()
    await server.stop()
  }
}

await main()
