import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import type { LoadOptions } from './api.ts'
import { LocalRuntime } from './local-runtime.ts'
import { TINY_OPTIONS, tinyBytes } from './testing/tiny-model.ts'
import {
  parseBenchmark,
  parseEngineInfo,
  parseLoadedModel,
  parseModelIds,
  parseReply,
  parseRunResult,
  parseVoid,
  serveRuntime,
} from './worker-protocol.ts'

const PARSERS = [parseEngineInfo, parseLoadedModel, parseRunResult, parseBenchmark, parseModelIds]

describe('replies from the worker are unknown until parsed', () => {
  test('an envelope opens to its value or to a typed error; anything else is bad-reply', () => {
    expect(parseReply({ type: 'ok', value: 3 })).toEqual({ ok: true, value: 3 })
    const failed = parseReply({ type: 'error', code: 'not-loaded', message: 'no' })
    expect(failed.ok).toBe(false)
    if (!failed.ok)
      expect(failed.error).toMatchObject({
        name: 'RuntimeError',
        code: 'not-loaded',
        message: 'no',
      })
    // An unknown code is kept as a message, never trusted as a code.
    const odd = parseReply({ type: 'error', code: 'made-up', message: 'm' })
    if (!odd.ok) expect(odd.error.code).toBe('internal')
    for (const junk of [
      null,
      undefined,
      1,
      'ok',
      [],
      { type: 'ok' },
      { type: 'error', code: 'x' },
    ]) {
      const r = parseReply(junk)
      expect(r.ok, JSON.stringify(junk)).toBe(false)
      if (!r.ok) expect(r.error.code).toBe('bad-reply')
    }
  })

  test('no arbitrary value passes a parser it does not fit', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        for (const parse of PARSERS) {
          const r = parse(value)
          if (!r.ok) expect(r.error.code).toBe('bad-reply')
        }
      }),
    )
    expect(parseVoid(undefined).ok).toBe(true)
    expect(parseVoid({}).ok).toBe(false)
  })

  test('run results must carry float32 outputs whose dims match their length', () => {
    const timings = { queuedMs: 0, runMs: 1 }
    const good = { outputs: { y: { data: new Float32Array(6), dims: [2, 3] } }, timings }
    expect(parseRunResult(good).ok).toBe(true)
    expect(
      parseRunResult({ ...good, outputs: { y: { data: new Float32Array(5), dims: [2, 3] } } }).ok,
    ).toBe(false)
    expect(
      parseRunResult({ ...good, outputs: { y: { data: new Float64Array(6), dims: [2, 3] } } }).ok,
    ).toBe(false)
    expect(parseRunResult({ ...good, outputs: { y: { data: [1, 2], dims: [2] } } }).ok).toBe(false)
    expect(parseRunResult({ ...good, timings: { queuedMs: Number.NaN, runMs: 1 } }).ok).toBe(false)
    expect(parseRunResult({ ...good, timings: { ...timings, batchSize: 4 } }).ok).toBe(true)
    expect(parseRunResult({ ...good, timings: { ...timings, batchSize: 0 } }).ok).toBe(false)
    expect(parseRunResult({ ...good, timings: { ...timings, batchSize: 1.5 } }).ok).toBe(false)
  })
})

describe('the worker checks its arguments', () => {
  test('bad arguments answer bad-input envelopes instead of throwing', async () => {
    const served = serveRuntime(new LocalRuntime())
    const call = (p: Promise<unknown>) => p.then(parseReply)
    const bad = async (p: Promise<unknown>) => {
      const r = await call(p)
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.error.code).toBe('bad-input')
    }
    await bad(served.configure({ numThreads: 'two' } as never))
    await bad(served.loadModel(42 as never, tinyBytes(), TINY_OPTIONS))
    await bad(served.loadModel('tiny', new Uint8Array(4) as never, TINY_OPTIONS))
    await bad(served.loadModel('tiny', tinyBytes(), { executionProvider: 'cuda' } as never))
    await bad(
      served.loadModel('tiny', tinyBytes(), {
        ...TINY_OPTIONS,
        inputs: [{ name: 'input', shape: [-1, 4] }],
      } as LoadOptions),
    )
    await bad(served.run('tiny', { input: { data: [1, 2, 3, 4], dims: [1, 4] } } as never, 1))
    await bad(served.run('tiny', { input: { data: new Float32Array(4), dims: [1.5, 4] } }, 2))
    await bad(
      served.run('tiny', { input: { data: new Float32Array(4), dims: [1, 4] } }, 'x' as never),
    )
    expect((await call(served.configure({ numThreads: 1 }))).ok).toBe(true)
    expect((await call(served.loadModel('tiny', tinyBytes(), TINY_OPTIONS))).ok).toBe(true)
    const run = await call(
      served.run('tiny', { input: { data: new Float32Array(4), dims: [1, 4] } }, 3),
    )
    expect(run.ok && parseRunResult(run.value).ok).toBe(true)
    // A call cancelled while queued behind another never runs.
    const input = { input: { data: new Float32Array(4), dims: [1, 4] } }
    const long = call(served.benchmark('tiny', input, 200, 4))
    const queued = call(served.run('tiny', input, 5))
    await served.cancel(5)
    await served.cancel(999) // unknown ids are ignored
    expect((await long).ok).toBe(true)
    const skipped = await queued
    expect(skipped.ok).toBe(false)
    if (!skipped.ok) expect(skipped.error.code).toBe('cancelled')
    await call(served.unload('tiny'))
  })
})
