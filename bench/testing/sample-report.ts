/** A fixed, small report for the unit tests of the report's tables and charts. */
import type { BenchReport, ScenarioResult } from '../report-types.ts'

const latency = (p50Ms: number, p95Ms: number) => ({ count: 100, p50Ms, p95Ms, meanMs: p50Ms })

const row = (
  over: Partial<ScenarioResult> & Pick<ScenarioResult, 'mode' | 'condition'>,
): ScenarioResult => ({
  requests: 100,
  answered: 100,
  lost: 0,
  degraded: 0,
  deadlineExits: null,
  accuracy: 92,
  latency: latency(10, 20),
  wireBytesPerRequest: 4_000,
  payloadBytesPerRequest: null,
  exitCounts: null,
  costReduction: null,
  failure: null,
  throttled: null,
  ...over,
})

/** Two conditions of four modes, with numbers chosen so every ratio is exact. */
export const sampleReport: BenchReport = {
  date: '2026-11-22T12:00:00.000Z',
  durationS: 900,
  machine: {
    cpuModel: 'Test CPU',
    cores: 2,
    memoryGb: 8,
    os: 'Linux 6.1',
    node: 'v20.0.0',
    chromium: '156.0.0.0',
    commit: '0123456789abcdef0123456789abcdef01234567',
    uncommitted: [],
    loadAverage: 1.5,
  },
  config: {
    task: 'fashion',
    devices: 6,
    samples: 100,
    threads: 1,
    throttleRate: 6,
    deadlineMs: 5_000,
  },
  emulation: 'Pages of one headless Chromium.',
  room: {
    planVersion: 7,
    k: 2,
    groups: [
      ['a', 'b', 'c'],
      ['d', 'e', 'f'],
    ],
    tiers: [
      { tier: 'edge', members: ['a', 'b', 'c'] },
      { tier: 'cloud', members: ['d', 'e', 'f'] },
    ],
  },
  thresholds: { calibrated: [0.66, 0.3], mixed: [0.99, 0.9] },
  floors: {
    rawPing: latency(0.5, 1),
    meshPing: latency(1, 2),
    models: { teacher: latency(4.5, 6), 'segment-1': latency(1, 2) },
    modelsWhileThrottled: { teacher: latency(9, 12), 'segment-1': latency(2, 4) },
    singleMs: 5,
    ensembleMs: 4,
    earlyExitMs: 1,
    cloudOnlyMs: 8,
  },
  scenarios: [
    row({ mode: 'single', condition: 'normal', latency: latency(10, 20) }),
    row({
      mode: 'ensemble-all',
      condition: 'normal',
      latency: latency(20, 40),
      wireBytesPerRequest: 25_000,
    }),
    row({
      mode: 'early-exit',
      condition: 'normal',
      latency: latency(2, 30),
      wireBytesPerRequest: 500,
      payloadBytesPerRequest: 400,
      exitCounts: [87, 13, 0],
      costReduction: 0.842,
      deadlineExits: 0,
    }),
    row({
      mode: 'single',
      condition: 'failure',
      answered: 25,
      lost: 75,
      accuracy: 23,
      wireBytesPerRequest: null,
      failure: { closed: ['d'], afterRequests: 25 },
    }),
    row({
      mode: 'ensemble-all',
      condition: 'failure',
      latency: latency(30, 60),
      degraded: 3,
      wireBytesPerRequest: null,
      failure: { closed: ['a', 'd'], afterRequests: 26 },
    }),
    row({
      mode: 'ensemble-all',
      condition: 'frozen',
      latency: latency(25, 2_000),
      degraded: 1,
      wireBytesPerRequest: null,
      failure: { closed: ['b'], afterRequests: 25 },
    }),
  ],
  byK: [1, 2].map((k) => ({
    k,
    groups: k === 1 ? [6] : [3, 3],
    predictedLatencyMs: 2 * k,
    requests: 100,
    answered: 100,
    degraded: 0,
    lost: 0,
    accuracy: 90 + k,
    manifestAccuracy: 91 + k,
    latency: latency(10 * k, 20 * k),
  })),
  micro: {
    mesh: {
      rounds: 3,
      pings: 300,
      bulkMiB: 64,
      ping: { mesh: latency(0.8, 1.2), raw: latency(0.6, 0.9) },
      goodputMBps: { mesh: [15, 16, 17], raw: [18, 20, 19], ratio: 16 / 19 },
      droppedRounds: [{ round: 2, error: 'Error: peer b is gone (closed)' }],
    },
    runtime: [
      {
        threads: '1',
        executionProvider: 'wasm',
        crossOriginIsolated: true,
        models: [{ modelId: 'teacher', rawMs: 4, rawP95Ms: 5, roundTripMs: 5, roundTripP95Ms: 7 }],
        recoveryMs: 321,
      },
    ],
    planner: [{ devices: 10, p50Ms: 0.5, p95Ms: 1, k: 2, predictedLatencyMs: 3.25 }],
    failures: ['runtime: the page crashed'],
  },
}
