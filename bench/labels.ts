/** Readable names of the report's modes and conditions, shared by its tables and charts. */
import type { BenchReport, Condition, Mode, ScenarioResult } from './report-types.ts'

/** A mode as the report names it. */
export const MODE_LABELS: Readonly<Record<Mode, string>> = {
  single: 'single teacher',
  'ensemble-all': 'ensemble, all members',
  'ensemble-hedged': 'ensemble, hedged',
  'early-exit': 'early exit, calibrated',
  'early-exit-mixed': 'early exit, 40/30/30',
  'cloud-only': 'cloud-only',
}

/** A condition as the report names it. */
export const CONDITION_LABELS: Readonly<Record<Condition, string>> = {
  normal: 'no failure',
  slowed: 'stragglers slowed',
  failure: 'device closed mid-run',
  frozen: 'device frozen mid-run',
}

/** The floor a mode's latency is compared with. */
export function floorOf(report: BenchReport, mode: Mode): number {
  switch (mode) {
    case 'single':
      return report.floors.singleMs
    case 'ensemble-all':
    case 'ensemble-hedged':
      return report.floors.ensembleMs
    case 'early-exit':
    case 'early-exit-mixed':
      return report.floors.earlyExitMs
    case 'cloud-only':
      return report.floors.cloudOnlyMs
  }
}

/** The single-teacher row under the same condition: every scenario's baseline. */
export function baselineOf(report: BenchReport, row: ScenarioResult): ScenarioResult | null {
  return (
    report.scenarios.find((r) => r.mode === 'single' && r.condition === row.condition) ??
    report.scenarios.find((r) => r.mode === 'single' && r.condition === 'normal') ??
    null
  )
}
