/**
 * The report's charts: Vega-Lite specs built from the report's JSON (pure), rendered to SVG in
 * Node by Vega's headless view.
 */
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import { baselineOf, CONDITION_LABELS, MODE_LABELS } from './labels.ts'
import type { BenchReport } from './report-types.ts'
import { ratio } from './stats.ts'

/** One chart: its file name (without folder), title and spec. */
export interface Chart {
  readonly name: string
  readonly title: string
  readonly spec: TopLevelSpec
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json'
const WIDTH = 560
const CONDITION_ORDER = Object.values(CONDITION_LABELS)
const MODE_ORDER = Object.values(MODE_LABELS)
/** Category axes show whole labels. */
const AXIS = { labelLimit: 400 } as const
/** Legends below the plot with whole labels (the default cuts long ones). */
const LEGEND = { orient: 'bottom', labelLimit: 400 } as const
/** A color channel of a Vega-Lite spec. */
type ColorEncoding = NonNullable<
  NonNullable<Extract<TopLevelSpec, { encoding?: unknown }>['encoding']>['color']
>

const conditionColor = {
  field: 'condition',
  type: 'nominal',
  sort: CONDITION_ORDER,
  title: null,
  legend: LEGEND,
} as const

/** p50 bars with p95 ticks, per scenario and condition. */
function latencyChart(report: BenchReport): Chart {
  const values = report.scenarios.map((row) => ({
    scenario: MODE_LABELS[row.mode],
    condition: CONDITION_LABELS[row.condition],
    p50: row.latency.p50Ms,
    p95: row.latency.p95Ms,
  }))
  const y = {
    field: 'scenario',
    type: 'nominal',
    sort: MODE_ORDER,
    title: null,
    axis: AXIS,
  } as const
  const yOffset = { field: 'condition', sort: CONDITION_ORDER } as const
  return {
    name: 'latency',
    title: 'Latency per request: p50 (bar) and p95 (tick)',
    spec: {
      $schema: SCHEMA,
      width: WIDTH,
      data: { values },
      layer: [
        {
          mark: 'bar',
          encoding: {
            y,
            yOffset,
            x: { field: 'p50', type: 'quantitative', title: 'ms' },
            color: conditionColor,
          },
        },
        {
          mark: { type: 'tick', thickness: 2, color: 'black' },
          encoding: { y, yOffset, x: { field: 'p95', type: 'quantitative' } },
        },
      ],
    },
  }
}

/** p50 divided by the single teacher's p50 under the same condition; 1 is the teacher. */
function ratioChart(report: BenchReport): Chart {
  const values = report.scenarios
    .filter((row) => row.mode !== 'single')
    .map((row) => ({
      scenario: MODE_LABELS[row.mode],
      condition: CONDITION_LABELS[row.condition],
      ratio: ratio(row.latency.p50Ms, baselineOf(report, row)?.latency.p50Ms ?? null),
    }))
  return {
    name: 'ratio-to-single',
    title: 'p50 relative to the single teacher under the same condition (below 1: faster)',
    spec: {
      $schema: SCHEMA,
      width: WIDTH,
      layer: [
        {
          data: { values },
          mark: 'bar',
          encoding: {
            y: { field: 'scenario', type: 'nominal', sort: MODE_ORDER, title: null, axis: AXIS },
            yOffset: { field: 'condition', sort: CONDITION_ORDER },
            x: { field: 'ratio', type: 'quantitative', title: 'p50 / single teacher p50' },
            color: conditionColor,
          },
        },
        {
          data: { values: [{ one: 1 }] },
          mark: { type: 'rule', color: 'black', strokeDash: [4, 3] },
          encoding: { x: { field: 'one', type: 'quantitative' } },
        },
      ],
    },
  }
}

/** Horizontal bars of requests per scenario (in data order), stacked by `color`. */
function requestsPerScenario(
  values: readonly { scenario: string; count: number }[],
  color: ColorEncoding,
): TopLevelSpec {
  return {
    $schema: SCHEMA,
    width: WIDTH,
    data: { values: [...values] },
    mark: 'bar',
    encoding: {
      y: { field: 'scenario', type: 'nominal', sort: null, title: null, axis: AXIS },
      x: { field: 'count', type: 'quantitative', stack: 'zero', title: 'requests' },
      color,
    },
  }
}

/** Answered (whole), degraded and lost requests per scenario with devices closed or frozen. */
function outcomesChart(report: BenchReport): Chart {
  const values = report.scenarios
    .filter((row) => row.failure !== null)
    .flatMap((row) => {
      const scenario = `${MODE_LABELS[row.mode]}, ${CONDITION_LABELS[row.condition]}`
      return [
        { scenario, outcome: 'answered', count: row.answered - row.degraded },
        { scenario, outcome: 'degraded', count: row.degraded },
        { scenario, outcome: 'lost', count: row.lost },
      ]
    })
  return {
    name: 'failures',
    title: 'Requests when devices are closed or frozen mid-run: answered, degraded, lost',
    spec: requestsPerScenario(values, {
      field: 'outcome',
      type: 'nominal',
      sort: ['answered', 'degraded', 'lost'],
      scale: {
        domain: ['answered', 'degraded', 'lost'],
        range: ['#4c78a8', '#f2a93b', '#e45756'],
      },
      title: null,
      legend: LEGEND,
    }),
  }
}

/** Which exit answered, per early-exit scenario. */
function exitsChart(report: BenchReport): Chart {
  const names = ['mobile (segment 1)', 'edge (segment 2)', 'cloud (segment 3)']
  const values = report.scenarios.flatMap((row) =>
    (row.exitCounts ?? []).map((count, exit) => ({
      scenario: `${MODE_LABELS[row.mode]}, ${CONDITION_LABELS[row.condition]}`,
      exit: names[exit] ?? `exit ${exit + 1}`,
      count,
    })),
  )
  return {
    name: 'exits',
    title: 'Early exit: which tier answered',
    spec: requestsPerScenario(values, {
      field: 'exit',
      type: 'nominal',
      sort: names,
      title: null,
      legend: LEGEND,
    }),
  }
}

/** Data-channel bytes per request, per scenario without failures. */
function bytesChart(report: BenchReport): Chart {
  const values = report.scenarios
    .filter((row) => row.condition === 'normal' && row.wireBytesPerRequest !== null)
    .map((row) => ({ scenario: MODE_LABELS[row.mode], bytes: row.wireBytesPerRequest }))
  return {
    name: 'bytes',
    title: 'Bytes on the wire per request (all data channels of the room, heartbeats subtracted)',
    spec: {
      $schema: SCHEMA,
      width: WIDTH,
      data: { values },
      mark: 'bar',
      encoding: {
        y: { field: 'scenario', type: 'nominal', sort: MODE_ORDER, title: null, axis: AXIS },
        x: { field: 'bytes', type: 'quantitative', title: 'bytes / request' },
      },
    },
  }
}

/** Every chart the report shows. */
export function buildCharts(report: BenchReport): Chart[] {
  const charts = [
    latencyChart(report),
    ratioChart(report),
    outcomesChart(report),
    exitsChart(report),
    bytesChart(report),
  ]
  // Each SVG says what it shows on its own, wherever it is opened.
  return charts.map((chart) => ({
    ...chart,
    spec: { ...chart.spec, title: chart.title } as TopLevelSpec,
  }))
}

/** Renders a Vega-Lite spec to an SVG document (no canvas, no browser). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
