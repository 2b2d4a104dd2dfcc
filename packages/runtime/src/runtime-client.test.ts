import { queryObjects } from 'node:v8'
import { afterEach, beforeAll, describe, expect, test } from 'vitest'
import type { RunResult, RuntimeApi, TensorMap } from './api.ts'
import { LocalRuntime } from './local-runtime.ts'
import { RuntimeClient, type RuntimeClientEvent } from './runtime-client.ts'
import { channelWorkers } from './testing/channel-worker.ts'
import { rowsFor, TINY_OPTIONS, tinyBytes, tinyInput, tinyLogits } from './testing/tiny-model.ts'

// In these tests the "worker" shares the test's thread: a long synchronous step blocks pings too.
const FAST_LIVENESS = { intervalMs: 20, timeoutMs: 1_500, bootTimeoutMs: 1_000 }

// ORT is loaded once per process: load it before any test, so its first WASM compile (which
// blocks this thread, and so the in-thread "worker's" pings) never lands inside a test.
beforeAll(async () => {
  const warm = new LocalRuntime()
  await warm.configure({ numThreads: 1 })
  await warm.loadModel('warm', tinyBytes(), TINY_OPTIONS)
  await warm.unload('warm')
}, 60_000)

let cleanup: (() => void)[] = []
afterEach(() => {
  for (const c of cleanup) c()
  cleanup = []
})

function startClient(wrapRuntime?: (runtime: RuntimeApi) => RuntimeApi) {
  const workers = channelWorkers(wrapRuntime)
  const events: RuntimeClientEvent[] = []
  const client = new RuntimeClient({
    config: { numThreads: 1 },
    createWorker: workers.factory,
    liveness: FAST_LIVENESS,
    onEvent: (e) => events.push(e),
  })
  cleanup.push(() => {
    client.dispose()
    workers.close()
  })
  return { client, workers, events }
}

const logitsOf = (r: RunResult) => [...(r.outputs.logits?.data ?? [])]

describe('RuntimeClient', () => {
  test('runs through the worker protocol, keeping the caller inputs intact', async () => {
    const { client } = startClient()
    expect(await client.configure({ numThreads: 1 })).toMatchObject({ numThreads: 1 })
    const bytes = tinyBytes()
    await client.loadModel('tiny', bytes, TINY_OPTIONS)
    expect(bytes.byteLength).toBeGreaterThan(0) // not detached: the client sent a copy
    const rows = rowsFor(3, 4)
    const inputs = tinyInput(rows)
    const out = await client.run('tiny', inputs)
    expect(logitsOf(out)).toEqual(tinyLogits(rows))
    expect(out.attempts).toBe(1)
    expect(out.roundTripMs).toBeGreaterThanOrEqual(out.timings.runMs)
    expect([...inputs.input.data]).toEqual(rows.flat())
    expect(await client.models()).toEqual(['tiny'])
  })

  test('concurrent runs through the client stay correct', async () => {
    const { client } = startClient()
    await client.configure({ numThreads: 1 })
    await client.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    const batches = Array.from({ length: 30 }, (_, i) => rowsFor(i, 1 + (i % 5)))
    const outs = await Promise.all(batches.map((rows) => client.run('tiny', tinyInput(rows))))
    for (const [i, o] of outs.entries()) {
      expect(logitsOf(o), `batch ${i}`).toEqual(tinyLogits(batches[i] ?? []))
    }
  })

  test('errors in the worker arrive as typed errors', async () => {
    const { client } = startClient()
    await client.configure({ numThreads: 1 })
    await expect(client.run('missing', tinyInput([[1, 2, 3, 4]]))).rejects.toMatchObject({
      name: 'RuntimeError',
      code: 'not-loaded',
    })
  })

  test('a killed worker is replaced: the pending run is retried and later calls succeed', async () => {
    const { client, workers, events } = startClient()
    await client.configure({ numThreads: 1 })
    await client.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    client.crashWorkerForTesting()
    const rows = rowsFor(5, 2)
    const out = await client.run('tiny', tinyInput(rows))
    expect(logitsOf(out)).toEqual(tinyLogits(rows))
    expect(out.attempts).toBe(2)
    expect(client.restarts).toBe(1)
    expect(workers.started).toHaveLength(2)
    expect(events).toContainEqual(expect.objectContaining({ type: 'restarted' }))
    expect(events).toContainEqual({ type: 'reloaded', models: ['tiny'], failed: [] })
    expect(await workers.started[1]?.runtime.models()).toEqual(['tiny'])
    expect(logitsOf(await client.run('tiny', tinyInput(rows)))).toEqual(tinyLogits(rows))
  })

  test('a worker error event restarts at once; non-inference calls pending on it fail typed', async () => {
    // The first worker's models() never answers, so it is pending when the worker dies.
    let first = true
    const { client, workers } = startClient((runtime) => {
      if (!first) return runtime
      first = false
      return { ...bind(runtime), models: () => new Promise<string[]>(() => undefined) }
    })
    await client.configure({ numThreads: 1 })
    const pending = client.models({ timeoutMs: 60_000 })
    const run = client.run('tiny', tinyInput([[0, 0, 0, 0]]))
    workers.started[0]?.fail('boom')
    // models() is retryable too (idempotent); on the fresh worker it answers.
    expect(await pending).toEqual([])
    await expect(run).rejects.toMatchObject({ code: 'not-loaded' })
    expect(client.restarts).toBe(1)
  })

  test('a call that outlives its deadline fails with timeout; an abort fails with cancelled', async () => {
    const slow = (runtime: RuntimeApi): RuntimeApi => ({
      ...bind(runtime),
      run: (id: string, inputs: TensorMap) =>
        new Promise<RunResult>((resolve, reject) => {
          setTimeout(() => runtime.run(id, inputs).then(resolve, reject), 300)
        }),
    })
    const { client } = startClient(slow)
    await client.configure({ numThreads: 1 })
    await client.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    await expect(
      client.run('tiny', tinyInput([[1, 1, 1, 1]]), { timeoutMs: 10 }),
    ).rejects.toMatchObject({
      code: 'timeout',
    })
    const abort = new AbortController()
    const aborted = client.run('tiny', tinyInput([[1, 1, 1, 1]]), { signal: abort.signal })
    abort.abort()
    await expect(aborted).rejects.toMatchObject({ code: 'cancelled' })
    const already = client.run('tiny', tinyInput([[1, 1, 1, 1]]), { signal: abort.signal })
    await expect(already).rejects.toMatchObject({ code: 'cancelled' })
    // Without a deadline in the way the slow worker answers (it is slow, not dead).
    expect(logitsOf(await client.run('tiny', tinyInput([[0, 0, 0, 0]])))).toEqual(
      tinyLogits([[0, 0, 0, 0]]),
    )
  })

  test('a worker that never answers is restarted by the watchdog, and one that keeps dying is given up on', async () => {
    const workers = channelWorkers()
    // Every worker this client starts is silent even to pings: terminate it straight away.
    const client = new RuntimeClient({
      config: { numThreads: 1 },
      createWorker: () => {
        const w = workers.factory()
        w.terminate()
        return w
      },
      liveness: FAST_LIVENESS,
      maxConsecutiveRestarts: 2,
    })
    cleanup.push(() => {
      client.dispose()
      workers.close()
    })
    await expect(client.models({ timeoutMs: 30_000 })).rejects.toMatchObject({
      code: 'worker-crashed',
    })
    await expect(client.models()).rejects.toMatchObject({ code: 'worker-crashed' })
    expect(client.restarts).toBe(3)
  })

  test('a call that times out or is aborted is cancelled in the worker too', async () => {
    // (worker-protocol.test shows that a cancelled call still queued there never runs)
    const { client, workers } = startClient()
    await client.configure({ numThreads: 1 })
    await client.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    const input = tinyInput([[1, 2, 3, 4]])
    // Long enough to yield to the event loop many times (it yields every 50 ms).
    const long = client.benchmark('tiny', input, 20_000)
    await expect(client.run('tiny', input, { timeoutMs: 1 })).rejects.toMatchObject({
      code: 'timeout',
    })
    const abort = new AbortController()
    const aborted = client.run('tiny', input, { signal: abort.signal })
    // A macrotask later the run has been posted (sending takes only microtasks).
    setTimeout(() => abort.abort(), 0)
    await expect(aborted).rejects.toMatchObject({ code: 'cancelled' })
    await long
    // Ports are FIFO: once a later call is answered, both cancels have reached the worker.
    await client.models()
    expect(workers.started[0]?.cancels).toHaveLength(2)
    expect(client.restarts).toBe(0)
  })

  test('a worker that answers pings but never finishes a call is stuck, and is replaced', async () => {
    let first = true
    const workers = channelWorkers((runtime) => {
      if (!first) return runtime
      first = false
      return { ...bind(runtime), models: () => new Promise<string[]>(() => undefined) }
    })
    const client = new RuntimeClient({
      config: { numThreads: 1 },
      createWorker: workers.factory,
      liveness: { ...FAST_LIVENESS, stuckMs: 1_500 },
    })
    cleanup.push(() => {
      client.dispose()
      workers.close()
    })
    await client.configure({ numThreads: 1 })
    // The deadline fails the call at once; the worker is replaced only once it is clearly stuck.
    await expect(client.models({ timeoutMs: 50 })).rejects.toMatchObject({ code: 'timeout' })
    expect(client.restarts).toBe(0)
    expect(await client.models()).toEqual([])
    expect(client.restarts).toBe(1)
  })

  test('a long-lived worker keeps nothing per finished call', async () => {
    // Each call races the worker's death; the soak found a reaction kept on the worker's
    // lifetime per call (two promises and their closures), so a page's heap grew without end.
    const { client } = startClient()
    await client.configure({ numThreads: 1 })
    await client.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    const input = tinyInput([[1, 2, 3, 4]])
    for (let i = 0; i < 100; i++) await client.run('tiny', input)
    // queryObjects runs a full collection first: the count is of live promises only.
    const before = queryObjects(Promise, { format: 'count' })
    const calls = 2_000
    for (let i = 0; i < calls; i++) await client.run('tiny', input)
    const after = queryObjects(Promise, { format: 'count' })
    expect(after - before).toBeLessThan(calls / 20)
  })

  test('dispose fails pending and later calls with cancelled', async () => {
    const { client } = startClient()
    await client.configure({ numThreads: 1 })
    await client.loadModel('tiny', tinyBytes(), TINY_OPTIONS)
    const pending = client.run('tiny', tinyInput([[1, 2, 3, 4]]))
    client.dispose()
    await expect(pending).rejects.toMatchObject({ code: 'cancelled' })
    await expect(client.models()).rejects.toMatchObject({ code: 'cancelled' })
  })
})

/** The runtime's methods bound to it, so a test can override some of them with a spread. */
function bind(runtime: RuntimeApi): RuntimeApi {
  return {
    configure: (c) => runtime.configure(c),
    loadModel: (id, bytes, options) => runtime.loadModel(id, bytes, options),
    run: (id, inputs, options) => runtime.run(id, inputs, options),
    benchmark: (id, inputs, runs, options) => runtime.benchmark(id, inputs, runs, options),
    unload: (id) => runtime.unload(id),
    models: () => runtime.models(),
  }
}
