/** Turns one scenario's request outcomes into its row of the report. */
import type { RequestOutcome } from './dashboard-calls.ts'
import type { Condition, Mode, ScenarioResult } from './report-types.ts'
import { mean, summarize } from './stats.ts'

/** What a scenario measured besides its outcomes. */
export interface ScenarioInput {
  readonly mode: Mode
  readonly condition: Condition
  readonly outcomes: readonly RequestOutcome[]
  /** Data-channel bytes of the whole room during the scenario, heartbeats subtracted. */
  readonly wireBytes: number | null
  /** How many exits the early-exit chain has (null for other modes). */
  readonly exits: number | null
  /** The manifest's cost of one cloud-only request (early exit's cost unit). */
  readonly cloudOnlyCost: number
  readonly failure?: ScenarioResult['failure']
  readonly slowed?: ScenarioResult['slowed']
}

/** The report's row for a scenario. */
export function summarizeScenario(input: ScenarioInput): ScenarioResult {
  const { outcomes } = input
  const answered = outcomes.filter((o) => o.error === null && o.prediction !== null)
  const correct = answered.filter((o) => o.prediction === o.label).length
  const costs = answered.flatMap((o) => (o.cost === undefined ? [] : [o.cost]))
  const bytes = answered.flatMap((o) => (o.bytes === undefined ? [] : [o.bytes]))
  const exitCounts =
    input.exits === null
      ? null
      : Array.from(
          { length: input.exits },
          (_, exit) => answered.filter((o) => o.exitIndex === exit).length,
        )
  const deadlineExits = outcomes.some((o) => o.deadlineExit !== undefined)
    ? answered.filter((o) => o.deadlineExit).length
    : null
  return {
    mode: input.mode,
    condition: input.condition,
    requests: outcomes.length,
    answered: answered.length,
    lost: outcomes.length - answered.length,
    degraded: answered.filter((o) => o.degraded).length,
    deadlineExits,
    accuracy: outcomes.length === 0 ? Number.NaN : (100 * correct) / outcomes.length,
    latency: summarize(answered.map((o) => o.latencyMs)),
    wireBytesPerRequest:
      input.wireBytes === null || outcomes.length === 0 ? null : input.wireBytes / outcomes.length,
    payloadBytesPerRequest: bytes.length === 0 ? null : mean(bytes),
    exitCounts,
    costReduction: costs.length === 0 ? null : 1 - mean(costs) / input.cloudOnlyCost,
    failure: input.failure ?? null,
    slowed: input.slowed ?? null,
  }
}
