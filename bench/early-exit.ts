/**
 * Early-exit benchmark (DistrEE / DIMEE), one run, headless Chromium pages on this machine: a host
 * (the mobile tier) and 4 devices (edge and cloud tiers as planned). Per-sample latency and payload
 * bytes on the wire for
 * - early exit at the manifest's calibrated thresholds,
 * - early exit at thresholds that send about 40 / 30 / 30% of the samples to each exit (so every
 *   tier works; computed offline from the shipped sample),
 * - cloud-only (the raw input to the cloud tier's best device, which runs every segment),
 * - the single-device teacher (the whole teacher on that same device),
 * with the floors measured in the same run: a raw data-channel round trip and segment 1 on the
 * host. Devices share two cores, so absolute numbers are a loaded machine's; compare the ratios.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { chromium, type Page } from '@playwright/test'
import { exitTable, expectAt, thresholdsForShares } from '../e2e/early-exit-reference.ts'
import { loadManifest } from '../e2e/ensemble-reference.ts'
import { createRoomAsHost, joinAsDevice, startCohortServer } from '../e2e/harness.ts'
import { chromiumArgs } from '../playwright.config.ts'

const TASK = process.env.BENCH_TASK ?? 'fashion'
const DEVICES = 4
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 300)
// Five pages on two cores must not fight over threads.
const THREADS = Number(process.env.BENCH_THREADS ?? 1)
const QUERY = `?task=${TASK}&threads=${THREADS}`
const DEADLINE_MS = 10_000

interface Outcome {
  label: number
  prediction: number | null
  latencyMs: number
  bytes?: number
  cost?: number
  exitIndex?: number | null
  degraded?: boolean
  deadlineExit?: boolean
  error: string | null
}
interface Tier {
  tier: string
  members: string[]
  predictedMs: number
}
type Host = {
  cohort: {
    mesh: {
      plan: { version: number; earlyExit: { tiers: Tier[] } | null } | null
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
      runEarlyExit(options: {
        samples: number
        deadlineMs: number
        thresholds?: number[]
      }): Promise<Outcome[]>
      runCloudOnly(options: {
        samples: number
        deviceId: string
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
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)

const tiersOf = (page: Page) =>
  page.evaluate(() => (window as unknown as Host).cohort.mesh.plan?.earlyExit?.tiers ?? null)

async function main(): Promise<void> {
  const manifest = loadManifest(TASK)
  const table = await exitTable(manifest, SAMPLES)
  const mixedThresholds = thresholdsForShares(table, [0.4, 0.3], SAMPLES)
  const mixedExpected = expectAt(manifest, table, mixedThresholds, SAMPLES)
  const teacherBytes =
    manifest.input.shape.reduce<number>((n, dim) => n * (dim === 'batch' ? 1 : dim), 4) +
    manifest.classes.length * 4

  const server = await startCohortServer()
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: chromiumArgs,
  })
  try {
    const host = await createRoomAsHost(browser, server)
    await host.page.goto(`${host.page.url()}${QUERY}`)
    const ids: string[] = []
    for (let i = 0; i < DEVICES; i++)
      ids.push((await joinAsDevice(browser, `${host.joinUrl}${QUERY}`)).deviceId)
    ids.sort()
    for (;;) {
      const planned = (await tiersOf(host.page))?.flatMap((tier) => tier.members).sort() ?? []
      if (JSON.stringify(planned) === JSON.stringify(ids)) break
      await host.page.waitForTimeout(500) // polling the page's state, not synchronising a test
    }
    const tiers = (await tiersOf(host.page)) as Tier[]
    const cloud = tiers.at(-1)?.members[0] ?? ''
    console.error(
      `tiers: ${tiers.map((tier) => `${tier.tier} ${tier.members.join(',')} (${tier.predictedMs.toFixed(2)} ms)`).join('; ')}`,
    )
    // Warm-up: every session and link has run once.
    await host.page.evaluate(
      (samples) =>
        (window as unknown as Host).cohort.host.runEarlyExit({
          samples,
          deadlineMs: 10_000,
          thresholds: [2, 2],
        }),
      20,
    )

    const calibrated = await host.page.evaluate(
      ({ samples, deadlineMs }) =>
        (window as unknown as Host).cohort.host.runEarlyExit({ samples, deadlineMs }),
      { samples: SAMPLES, deadlineMs: DEADLINE_MS },
    )
    const mixed = await host.page.evaluate(
      ({ samples, deadlineMs, thresholds }) =>
        (window as unknown as Host).cohort.host.runEarlyExit({ samples, deadlineMs, thresholds }),
      { samples: SAMPLES, deadlineMs: DEADLINE_MS, thresholds: mixedThresholds },
    )
    const cloudOnly = await host.page.evaluate(
      ({ samples, deadlineMs, deviceId }) =>
        (window as unknown as Host).cohort.host.runCloudOnly({ samples, deadlineMs, deviceId }),
      { samples: SAMPLES, deadlineMs: DEADLINE_MS, deviceId: cloud },
    )
    const single = await host.page.evaluate(
      ({ samples, deadlineMs, deviceId }) =>
        (window as unknown as Host).cohort.host.runSingle({ samples, deadlineMs, deviceId }),
      { samples: SAMPLES, deadlineMs: DEADLINE_MS, deviceId: cloud },
    )
    // Floors, measured now on the same pages.
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
      { peer: cloud, samples: SAMPLES },
    )
    const segment1 = await host.page.evaluate(
      async ({ id, input, dims, samples }) => {
        const { client } = (window as unknown as Host).cohort.runtime
        const times: number[] = []
        for (let i = 0; i < samples; i++)
          times.push(
            (await client.run(id, { [input]: { data: new Float32Array(784), dims } })).roundTripMs,
          )
        return times
      },
      {
        id: manifest.earlyExit.segments[0] ?? 'segment-1',
        input: manifest.input.name,
        dims: manifest.input.shape.map((dim) => (dim === 'batch' ? 1 : dim)),
        samples: SAMPLES,
      },
    )

    const row = (name: string, outcomes: Outcome[], bytesPerSample?: number) => {
      const ok = outcomes.filter((o) => o.error === null && o.prediction !== null)
      const latencies = ok.map((o) => o.latencyMs)
      const correct = ok.filter((o) => o.prediction === o.label).length
      const exits = [0, 1, 2].map((e) => ok.filter((o) => o.exitIndex === e).length)
      return {
        name,
        p50Ms: quantile(latencies, 0.5),
        p95Ms: quantile(latencies, 0.95),
        meanMs: mean(latencies),
        bytesPerSample: bytesPerSample ?? mean(ok.map((o) => o.bytes ?? 0)),
        accuracy: (100 * correct) / Math.max(1, outcomes.length),
        meanCost: ok.some((o) => o.cost !== undefined) ? mean(ok.map((o) => o.cost ?? 0)) : null,
        exits: ok.some((o) => o.exitIndex !== undefined) ? exits : null,
        degraded: ok.filter((o) => o.degraded).length,
        deadlineExits: ok.filter((o) => o.deadlineExit).length,
        errors: outcomes.length - ok.length,
      }
    }
    const rows = [
      row('early exit, calibrated thresholds', calibrated),
      row('early exit, 40/30/30 thresholds', mixed),
      row('cloud-only (whole backbone on the cloud device)', cloudOnly),
      row('single-device teacher (same device)', single, teacherBytes),
    ]
    const result = {
      date: new Date().toISOString(),
      machine: `host + ${DEVICES} devices as headless Chromium contexts in one browser, 2 shared cores (busy with other work), WASM, ${THREADS} thread(s) per page`,
      task: TASK,
      samples: SAMPLES,
      tiers,
      thresholds: {
        calibrated: manifest.earlyExit.thresholds,
        mixed: mixedThresholds,
        mixedExpected: {
          accuracy: mixedExpected.accuracy,
          costReduction: mixedExpected.costReduction,
          exitCounts: mixedExpected.exitCounts,
        },
      },
      cost: manifest.earlyExit.cost,
      floor: {
        pingMs: quantile(pings, 0.5),
        hostSegment1Ms: quantile(segment1, 0.5),
      },
      rows,
    }
    mkdirSync('bench/results', { recursive: true })
    const file = `bench/results/early-exit-${result.date.slice(0, 10)}.json`
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`)
    const f = (n: number) => n.toFixed(2)
    const cloudRow = rows[2]
    const lines = [
      `Task ${TASK}, ${SAMPLES} samples per row; tiers ${tiers.map((t) => `${t.tier} ${t.members.length}`).join(', ')}.`,
      `Floors (median): data-channel round trip ${f(result.floor.pingMs)} ms; segment 1 on the host ${f(result.floor.hostSegment1Ms)} ms.`,
      `Cost: lambda ${manifest.earlyExit.cost.lambdaPerMMac}/MMAC, offload ${manifest.earlyExit.cost.offload}; cloud-only ${manifest.earlyExit.cost.cloudOnly}.`,
      '',
      '| scenario | p50 ms | p95 ms | p50 / cloud-only | bytes/sample | accuracy % | cost reduction | exits | deadline-exits / degraded / errors |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map(
        (r) =>
          `| ${r.name} | ${f(r.p50Ms)} | ${f(r.p95Ms)} | ${f(r.p50Ms / (cloudRow?.p50Ms ?? Number.NaN))}x | ${r.bytesPerSample.toFixed(0)} | ${r.accuracy.toFixed(2)} | ${r.meanCost === null ? '—' : `${(100 * (1 - r.meanCost / manifest.earlyExit.cost.cloudOnly)).toFixed(1)}%`} | ${r.exits ? r.exits.join('/') : '—'} | ${r.deadlineExits} / ${r.degraded} / ${r.errors} |`,
      ),
      '',
      `Written to ${file}.`,
    ]
    console.log(lines.join('\n'))
  } finally {
    await browser.close()
    await server.stop()
  }
}

await main()
