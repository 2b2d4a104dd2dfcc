import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { h } from '../dom.ts'
import type { LiveSeries, RunMode } from './series.ts'

/** The dashboard's charts. */
export type ChartName = 'latency' | 'throughput' | 'quality' | 'exits'

/** What the charts show of the followed run. */
export interface ChartInput {
  readonly mode: RunMode | null
  readonly series: LiveSeries
  /** Answers per exit (early exit; zeros in other modes). */
  readonly exitCounts: readonly number[]
}

const HEIGHT = 180
const COLORS = {
  p50: '#2563eb',
  p95: '#d97706',
  rate: '#16a34a',
  accuracy: '#7c3aed',
  cost: '#0891b2',
}

/** A line series of the shared style. */
const line = (label: string, stroke: string, unit: string): uPlot.Series => ({
  label,
  stroke,
  width: 2,
  value: (_self, value) => (value === null ? '–' : `${value.toFixed(1)}${unit}`),
})

/** The x axis of the time series: seconds since the run started. */
const secondsSeries: uPlot.Series = {
  label: 's',
  value: (_self, value) => (value === null ? '–' : `${value.toFixed(1)} s`),
}

/**
 * The live charts (uPlot: small, canvas, built for streaming time series). Each chart is
 * created once; a streaming run only hands it new data (`setData`), which redraws it in place.
 */
export class LiveCharts {
  /** The charts' section, to be placed once in the page. */
  readonly element: HTMLElement
  private readonly plots = new Map<ChartName, uPlot>()
  private readonly figures = new Map<ChartName, HTMLElement>()
  private readonly resize: ResizeObserver

  constructor(readonly exits: number) {
    const axisColor =
      getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#64748b'
    const axes = (unit: string): uPlot.Axis[] => [
      { stroke: axisColor, grid: { show: false } },
      { stroke: axisColor, label: unit, size: 48 },
    ]
    const timeScales: uPlot.Scales = { x: { time: false } }
    this.element = h('div', { class: 'charts', 'data-testid': 'charts' })
    this.add('latency', 'Latency, rolling p50 / p95 of the last 50 answers', {
      scales: timeScales,
      axes: axes('ms'),
      series: [secondsSeries, line('p50', COLORS.p50, ' ms'), line('p95', COLORS.p95, ' ms')],
    })
    this.add('throughput', 'Throughput, answers per second over the last 2 s', {
      scales: timeScales,
      axes: axes('req/s'),
      series: [secondsSeries, line('throughput', COLORS.rate, ' req/s')],
    })
    this.add('quality', 'Running accuracy and cost reduction vs cloud-only (early exit)', {
      scales: { ...timeScales, y: { range: [0, 100] } },
      axes: axes('%'),
      series: [
        secondsSeries,
        line('accuracy', COLORS.accuracy, '%'),
        line('cost reduction', COLORS.cost, '%'),
      ],
    })
    const bars = uPlot.paths.bars?.({ size: [0.6, 64] })
    this.add(
      'exits',
      'Exit histogram: answers per exit (early exit)',
      {
        scales: {
          x: { time: false, range: [0.5, exits + 0.5] },
          y: { range: (_u, _min, max) => [0, Math.max(1, max)] },
        },
        axes: [
          {
            stroke: axisColor,
            grid: { show: false },
            splits: () => range(exits).map((i) => i + 1),
            values: (_u, splits) => splits.map((i) => `exit ${i}`),
          },
          { stroke: axisColor, label: 'answers', size: 48 },
        ],
        series: [
          { label: 'exit' },
          {
            label: 'answers',
            stroke: COLORS.p50,
            fill: `${COLORS.p50}99`,
            ...(bars ? { paths: bars } : {}),
            points: { show: false },
          },
        ],
      },
      [range(exits).map((i) => i + 1), range(exits).map(() => 0)],
    )
    // Charts take their wrapper's width; the grid decides it (two columns, one on a phone).
    this.resize = new ResizeObserver(() => {
      for (const [name, plot] of this.plots) {
        const width = this.figures.get(name)?.clientWidth ?? 0
        if (width > 0 && width !== plot.width) plot.setSize({ width, height: HEIGHT })
      }
    })
    for (const figure of this.figures.values()) this.resize.observe(figure)
  }

  /** Shows `input` (new data for the same chart instances). */
  update(input: ChartInput): void {
    const { seconds, p50Ms, p95Ms, throughput, accuracy, costReduction } = input.series
    this.set('latency', [seconds, p50Ms, p95Ms])
    this.set('throughput', [seconds, throughput])
    this.set('quality', [seconds, accuracy, costReduction])
    this.set('exits', [range(this.exits).map((i) => i + 1), [...input.exitCounts]])
    this.element.dataset.mode = input.mode ?? ''
  }

  /** Every chart's data as its uPlot instance holds it (x values first), for tests. */
  data(): Record<ChartName, (number | null)[][]> {
    const copy = (name: ChartName) =>
      (this.plots.get(name)?.data ?? []).map((values) => Array.from(values, (v) => v ?? null))
    return {
      latency: copy('latency'),
      throughput: copy('throughput'),
      quality: copy('quality'),
      exits: copy('exits'),
    }
  }

  /** Stops following the page's layout. */
  dispose(): void {
    this.resize.disconnect()
    for (const plot of this.plots.values()) plot.destroy()
  }

  private add(
    name: ChartName,
    caption: string,
    options: Omit<uPlot.Options, 'width' | 'height'>,
    data: uPlot.AlignedData = options.series.map(() => []) as unknown as uPlot.AlignedData,
  ): void {
    const target = h('div')
    const figure = h(
      'figure',
      { class: 'chart', 'data-chart': name, 'data-points': 0 },
      h('figcaption', {}, caption),
      target,
    )
    this.element.append(figure)
    this.figures.set(name, figure)
    this.plots.set(name, new uPlot({ ...options, width: 400, height: HEIGHT }, data, target))
  }

  private set(name: ChartName, data: uPlot.AlignedData): void {
    const plot = this.plots.get(name)
    if (!plot) return
    plot.setData(data)
    const figure = this.figures.get(name)
    if (figure) figure.dataset.points = String(data[0]?.length ?? 0)
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)
