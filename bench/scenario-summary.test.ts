import { describe, expect, it } from 'vitest'
import type { RequestOutcome } from './dashboard-calls.ts'
import { summarizeScenario } from './scenario-summary.ts'

const outcome = (over: Partial<RequestOutcome>): RequestOutcome => ({
  label: 1,
  prediction: 1,
  latencyMs: 10,
  error: null,
  ...over,
})

describe('summarizeScenario', () => {
  it('counts lost requests as errors and as wrong answers, and times only the answered ones', () => {
    const row = summarizeScenario({
      mode: 'ensemble-all',
      condition: 'failure',
      outcomes: [
        outcome({ latencyMs: 10 }),
        outcome({ latencyMs: 30, degraded: true, prediction: 2 }),
        outcome({ latencyMs: 5_000, prediction: null, error: 'timeout: late' }),
        outcome({ latencyMs: 20 }),
      ],
      wireBytes: 8_000,
      exits: null,
      cloudOnlyCost: 10,
      failure: { closed: ['a'], afterRequests: 2 },
    })
    expect(row).toMatchObject({
      requests: 4,
      answered: 3,
      lost: 1,
      degraded: 1,
      accuracy: 50,
      latency: { count: 3, p50Ms: 20, p95Ms: 30, meanMs: 20 },
      wireBytesPerRequest: 2_000,
      payloadBytesPerRequest: null,
      exitCounts: null,
      costReduction: null,
      deadlineExits: null,
      failure: { closed: ['a'], afterRequests: 2 },
      slowed: null,
    })
  })

  it('reports exits, payload bytes and the cost reduction of early-exit requests', () => {
    const row = summarizeScenario({
      mode: 'early-exit',
      condition: 'normal',
      outcomes: [
        outcome({ exitIndex: 0, bytes: 0, cost: 1, deadlineExit: false }),
        outcome({ exitIndex: 0, bytes: 0, cost: 1, deadlineExit: false }),
        outcome({ exitIndex: 2, bytes: 300, cost: 10, deadlineExit: true }),
      ],
      wireBytes: null,
      exits: 3,
      cloudOnlyCost: 8,
    })
    expect(row.exitCounts).toEqual([2, 0, 1])
    expect(row.payloadBytesPerRequest).toBe(100)
    expect(row.costReduction).toBeCloseTo(1 - 4 / 8)
    expect(row.deadlineExits).toBe(1)
    expect(row.wireBytesPerRequest).toBeNull()
  })
})
