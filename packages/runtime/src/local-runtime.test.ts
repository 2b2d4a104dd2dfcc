import { afterEach, describe, expect, test, vi } from 'vitest'
import type { ModelSession } from './engine.ts'
import { LocalRuntime, MAX_BATCH } from './local-runtime.ts'
import {
  TINY_BIAS as B,
  rowsFor,
  TINY_OPTIONS,
  tinyBytes,
  tinyLogits,
} from './testing/tiny-model.ts'

let runtime: LocalRuntime
afterEach(async () => {
  for (const id of await runtime.models()) await runtime.unload(id)
})

describe('LocalRuntime', () => {
  test('loads, warms up and runs a model with outputs computed independently', async () => {
    runtime = new LocalRuntime()
    const info = await runtime.configure({ numThreads: 1 })
    expect(info).toMatchObject({ numThreads: 1, crossOriginIsolated: false })
    const loaded = await runtime.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    expect(loaded).toMatchObject({
      id: 'tiny',
      executionProvider: 'wasm',
      inputNames: ['input'],
      outputNames: ['logits'],
    })
    expect(loaded.warmupMs).toBeGreaterThanOrEqual(0)
    const rows = rowsFor(1, 5)
    const out = await runtime.run('tiny', {
      input: { data: new Float32Array(rows.flat()), dims: [5, 4] },
    })
    expect(out.outputs.logits?.dims).toEqual([5, 3])
    expect([...(out.outputs.logits?.data ?? [])]).toEqual(tinyLogits(rows))
    expect(out.timings.runMs).toBeGreaterThanOrEqual(0)
  })

  test('creates a session once per model, even for concurrent loads', async () => {
    runtime = new LocalRuntime()
    await runtime.configure({ numThreads: 1 })
    const [a, b] = await Promise.all([
      runtime.loadModel('tiny', tinyBytes(), TINY_OPTIONS),
      runtime.loadModel('tiny', tinyBytes(), TINY_OPTIONS),
    ])
    expect(a).toBe(b)
    expect(await runtime.loadModel('tiny', tinyBytes(), TINY_OPTIONS)).toBe(a)
    expect(await runtime.models()).toEqual(['tiny'])
  })

  test('concurrent runs on one session are queued and each gets its own correct answer', async () => {
    runtime = new LocalRuntime()
    await runtime.configure({ numThreads: 1 })
    await runtime.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    const batches = Array.from({ length: 40 }, (_, i) => rowsFor(i, 1 + (i % 7)))
    const results = await Promise.all(
      batches.map((rows) =>
        runtime.run('tiny', {
          input: { data: new Float32Array(rows.flat()), dims: [rows.length, 4] },
        }),
      ),
    )
    results.forEach((r, i) => {
      expect([...(r.outputs.logits?.data ?? [])], `batch ${i}`).toEqual(
        tinyLogits(batches[i] ?? []),
      )
    })
    // Later runs waited behind earlier ones instead of interleaving.
    expect(Math.max(...results.map((r) => r.timings.queuedMs))).toBeGreaterThan(0)
  })

  test('batch-1 runs that queue up while the engine is busy run as one batch, each with its own rows', async () => {
    runtime = new LocalRuntime()
    await runtime.configure({ numThreads: 1 })
    await runtime.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    const rows = Array.from({ length: 40 }, (_, i) => rowsFor(100 + i, 1))
    const cancelled = new AbortController()
    cancelled.abort()
    const results = await Promise.allSettled(
      rows.map((row, i) =>
        runtime.run(
          'tiny',
          { input: { data: new Float32Array(row.flat()), dims: [1, 4] } },
          // One of them gave up before its turn: it alone is refused, its batch still runs.
          i === 7 ? { signal: cancelled.signal } : {},
        ),
      ),
    )
    results.forEach((result, i) => {
      if (i === 7) {
        expect(result.status === 'rejected' && result.reason).toMatchObject({ code: 'cancelled' })
        return
      }
      if (result.status !== 'fulfilled')
        throw new Error(`run ${i} failed: ${String(result.reason)}`)
      expect(result.value.outputs.logits?.dims, `run ${i}`).toEqual([1, 3])
      expect([...(result.value.outputs.logits?.data ?? [])], `run ${i}`).toEqual(
        tinyLogits(rows[i] ?? []),
      )
    })
    const sizes = results.flatMap((result) =>
      result.status === 'fulfilled' ? [result.value.timings.batchSize ?? 0] : [],
    )
    // All 40 waited for the first turn: they ran in batches of at most MAX_BATCH.
    expect(Math.max(...sizes)).toBe(MAX_BATCH)
    expect(sizes.every((size) => size >= 1 && size <= MAX_BATCH)).toBe(true)
  })

  test('bad inputs and unknown models fail with typed errors, and the session keeps working', async () => {
    runtime = new LocalRuntime()
    await runtime.configure({ numThreads: 1 })
    await runtime.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    await expect(runtime.run('nope', {})).rejects.toMatchObject({ code: 'not-loaded' })
    await expect(
      runtime.run('tiny', { x: { data: new Float32Array(4), dims: [1, 4] } }),
    ).rejects.toMatchObject({
      code: 'bad-input',
    })
    await expect(
      runtime.run('tiny', { input: { data: new Float32Array(5), dims: [1, 4] } }),
    ).rejects.toMatchObject({
      code: 'bad-input',
    })
    // Right size, wrong shape: ORT itself refuses, and that is a model failure, not a crash.
    await expect(
      runtime.run('tiny', { input: { data: new Float32Array(4), dims: [2, 2] } }),
    ).rejects.toMatchObject({
      code: 'model-failed',
    })
    const ok = await runtime.run('tiny', { input: { data: new Float32Array(4), dims: [1, 4] } })
    expect([...(ok.outputs.logits?.data ?? [])]).toEqual(B)
  })

  test('bytes that are not a model fail to load with a typed error', async () => {
    runtime = new LocalRuntime()
    await runtime.configure({ numThreads: 1 })
    await expect(
      runtime.loadModel('junk', new Uint8Array([1, 2, 3]).buffer, TINY_OPTIONS),
    ).rejects.toMatchObject({
      code: 'model-failed',
    })
    expect(await runtime.models()).toEqual([])
  })

  test('unload waits for queued runs, then the id is gone', async () => {
    runtime = new LocalRuntime()
    await runtime.configure({ numThreads: 1 })
    await runtime.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    const runs = Array.from({ length: 5 }, () =>
      runtime.run('tiny', { input: { data: new Float32Array(4), dims: [1, 4] } }),
    )
    await runtime.unload('tiny')
    for (const r of await Promise.all(runs)) expect([...(r.outputs.logits?.data ?? [])]).toEqual(B)
    await expect(
      runtime.run('tiny', { input: { data: new Float32Array(4), dims: [1, 4] } }),
    ).rejects.toMatchObject({
      code: 'not-loaded',
    })
  })

  test('a queued call whose signal is aborted before its turn fails with cancelled and never runs', async () => {
    runtime = new LocalRuntime()
    await runtime.configure({ numThreads: 1 })
    await runtime.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    const input = { input: { data: new Float32Array(4), dims: [1, 4] } }
    const first = runtime.benchmark('tiny', input, 100)
    const abort = new AbortController()
    const skipped = runtime.run('tiny', input, { signal: abort.signal })
    const kept = runtime.run('tiny', input)
    abort.abort()
    await expect(skipped).rejects.toMatchObject({ code: 'cancelled' })
    expect((await first).ms).toHaveLength(100)
    expect([...((await kept).outputs.logits?.data ?? [])]).toEqual(B)
  })

  test('benchmark times back-to-back runs in the engine thread', async () => {
    runtime = new LocalRuntime()
    await runtime.configure({ numThreads: 1 })
    await runtime.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    const bench = await runtime.benchmark(
      'tiny',
      { input: { data: new Float32Array(4), dims: [1, 4] } },
      25,
    )
    expect(bench.ms).toHaveLength(25)
    await expect(
      runtime.benchmark('tiny', { input: { data: new Float32Array(4), dims: [1, 4] } }, 0),
    ).rejects.toMatchObject({
      code: 'bad-input',
    })
  })
})

describe('LocalRuntime slowdown', () => {
  /** A native session whose every run takes `computeMs` of (fake) time. */
  const timedSession = (computeMs: number): ModelSession => ({
    inputNames: ['input'],
    outputNames: ['logits'],
    run: async () => {
      vi.advanceTimersByTime(computeMs)
      return { logits: { data: new Float32Array(3), dims: [1, 3] } }
    },
    release: async () => {},
  })
  const input = { input: { data: new Float32Array(4), dims: [1, 4] } }
  const options = {
    executionProvider: 'cpu' as const,
    inputs: [{ name: 'input', shape: ['batch' as const, 4] }],
    warmupRuns: 0,
  }
  afterEach(() => {
    vi.useRealTimers()
  })

  test('stretches each run to slowdown x its compute, and holds only its own device', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] })
    const slow = new LocalRuntime({ native: async () => timedSession(10) })
    const fast = new LocalRuntime({ native: async () => timedSession(10) })
    runtime = slow
    expect((await slow.configure({ numThreads: 1, slowdown: 3 })).slowdown).toBe(3)
    await fast.configure({ numThreads: 1 })
    await slow.loadModel('m', new ArrayBuffer(8), options)
    await fast.loadModel('m', new ArrayBuffer(8), options)
    let settled = false
    const stretched = slow.run('m', input).then((result) => {
      settled = true
      return result
    })
    await vi.advanceTimersByTimeAsync(0)
    // The emulated device is waiting out its (3 - 1) x 10 ms: another device still runs now.
    const other = await fast.run('m', input)
    expect(other.timings.runMs).toBe(10)
    await vi.advanceTimersByTimeAsync(19 - 10)
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect((await stretched).timings.runMs).toBe(30)
    // Its benchmark (and so its profile) sees the slower device too.
    const bench = slow.benchmark('m', input, 2)
    await vi.advanceTimersByTimeAsync(100)
    expect((await bench).ms).toEqual([30, 30])
    await fast.unload('m')
  })

  test('a slowdown below 1, above the limit or not a number is refused', async () => {
    runtime = new LocalRuntime()
    for (const slowdown of [0.5, 101, Number.NaN]) {
      await expect(runtime.configure({ numThreads: 1, slowdown })).rejects.toMatchObject({
        code: 'bad-input',
      })
    }
  })

  test('without a native engine, the cpu provider fails to load with a typed error', async () => {
    runtime = new LocalRuntime()
    await runtime.configure({ numThreads: 1 })
    await expect(runtime.loadModel('m', new ArrayBuffer(8), options)).rejects.toMatchObject({
      code: 'model-failed',
      message: expect.stringMatching(/no native engine/),
    })
  })
})
