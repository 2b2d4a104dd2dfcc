import type { PeerStatus } from '@cohort/mesh'
import { atWindow } from '@cohort/planner'
import type { DeviceId, EnsemblePlan } from '@cohort/protocol'
import { h, numberInput } from '../dom.ts'
import type { EarlyExitSession } from '../early-exit-session.ts'
import { type EarlyExitControls, earlyExitControls, earlyExitFigures } from '../early-exit-view.ts'
import type { HostSession, RunOptions, RunStats } from '../host-session.ts'
import type { RunFeed } from './run-feed.ts'
import { type RunMode, type RunSummary, summarize } from './series.ts'

/** The run controls' settings, kept across renders. */
export interface RunPanelState {
  mode: RunMode
  ensemble: RunOptions
  single: { samples: number; deadlineMs: number; deviceId: string | null }
  earlyExit: EarlyExitControls
  /** Requests in flight at once, in every mode. */
  window: number
}

/** A few requests in flight keep every device busy while answers travel; 16 at most here. */
export const DEFAULT_WINDOW = 4
const WINDOW = { min: 1, max: 16 } as const

/** The default settings. */
export function initialRunState(): RunPanelState {
  return {
    mode: 'ensemble',
    ensemble: { samples: 300, redundancy: 'all', deadlineMs: 2_000 },
    single: { samples: 300, deadlineMs: 5_000, deviceId: null },
    earlyExit: { samples: 300, deadlineMs: 2_000, thresholds: null, window: DEFAULT_WINDOW },
    window: DEFAULT_WINDOW,
  }
}

/** What the panel needs of the page. */
export interface RunPanelContext {
  readonly session: HostSession | null
  readonly earlyExit: EarlyExitSession | null
  readonly devices: readonly PeerStatus[]
  /** The plan's early-exit thresholds, when it has some. */
  readonly thresholds: readonly number[] | null
  /** The plan's ensemble part, for what it predicts at the window in use. */
  readonly ensemblePlan: EnsemblePlan | null
  readonly feed: RunFeed
  readonly rerender: () => void
}

/** How many test samples a run may take. */
const SAMPLES = { min: 1, max: 1000 } as const

const MODES: readonly [RunMode, string][] = [
  ['single', 'single device (the teacher)'],
  ['ensemble', 'ensemble (RoCoIn)'],
  ['early-exit', 'early exit (DistrEE / DIMEE)'],
]

const warnFailed = (error: unknown) => console.warn('cohort: the run failed', error)

/**
 * One mode switch, the chosen mode's controls and its live figures. The figures are rebuilt on
 * every update; the controls only when what they show changes (the mode, the devices to choose
 * from, the thresholds), and a run starting or ending only enables or disables its button, so a
 * field being typed in keeps its focus while a run streams or devices come and go.
 */
export class RunPanel {
  readonly element: HTMLElement
  readonly #controls = h('div')
  readonly #figures = h('div')
  #shownControls: string | null = null

  constructor(
    private readonly state: RunPanelState,
    private readonly context: () => RunPanelContext,
  ) {
    const select = h(
      'select',
      {
        'aria-label': 'Mode',
        'data-testid': 'mode',
        onchange: (event: Event) => {
          const value = (event.target as HTMLSelectElement).value
          state.mode = MODES.find(([mode]) => mode === value)?.[0] ?? 'ensemble'
          this.update()
        },
      },
      ...MODES.map(([mode, label]) => h('option', { value: mode }, label)),
    )
    select.value = state.mode
    const window = numberInput('Requests in flight', state.window, WINDOW, (value) => {
      state.window = value
      state.earlyExit.window = value
    })
    window.dataset.testid = 'window'
    window.title = 'How many requests are in flight at once'
    this.element = h(
      'div',
      {},
      h('p', { class: 'row' }, 'Mode ', select, ' In flight ', window),
      this.#controls,
      this.#figures,
    )
  }

  /** Shows the current state: the figures always, the controls when they changed. */
  update(): void {
    const context = this.context()
    const shown = controlsKey(this.state, context)
    if (shown !== this.#shownControls) {
      this.#shownControls = shown
      this.#controls.replaceChildren(...controls(this.state, context))
    }
    const run = this.#controls.querySelector<HTMLButtonElement>('button[data-run]')
    if (run) run.disabled = !canRun(this.state, context)
    this.#figures.replaceChildren(...figures(this.state, context))
  }
}

/** Everything the controls show: when it is unchanged, the controls are not rebuilt. */
function controlsKey(state: RunPanelState, context: RunPanelContext): string {
  const base = `${state.mode}|${context.session !== null}|${context.earlyExit !== null}`
  switch (state.mode) {
    case 'single':
      return `${base}|${openDevices(context)
        .map((peer) => `${peer.info.deviceId} ${peer.info.label}`)
        .join(',')}`
    case 'ensemble':
      return base
    case 'early-exit':
      return `${base}|${earlyExitThresholds(state, context)?.join(',')}|${state.earlyExit.thresholds === null}`
  }
}

/** Whether the mode's Run button may start a run now. */
function canRun(state: RunPanelState, context: RunPanelContext): boolean {
  const { session, earlyExit } = context
  switch (state.mode) {
    case 'single':
      return Boolean(session && !session.isRunning && openDevices(context).length > 0)
    case 'ensemble':
      return Boolean(session && !session.isRunning)
    case 'early-exit':
      return Boolean(earlyExit && !earlyExit.isRunning)
  }
}

function controls(state: RunPanelState, context: RunPanelContext): Node[] {
  switch (state.mode) {
    case 'single':
      return singleControls(state, context)
    case 'ensemble':
      return ensembleControls(state, context)
    case 'early-exit': {
      const thresholds = earlyExitThresholds(state, context)
      return context.earlyExit && thresholds
        ? earlyExitControls(context.earlyExit, thresholds, state.earlyExit, () =>
            context.rerender(),
          )
        : []
    }
  }
}

function figures(state: RunPanelState, context: RunPanelContext): Node[] {
  const loading = h('p', { class: 'muted' }, 'Loading models…')
  switch (state.mode) {
    case 'single':
      return [
        h(
          'p',
          { class: 'muted' },
          'The whole teacher on one device: the baseline the other modes are compared with.',
        ),
        context.feed.mode === 'single'
          ? summaryView(summarize(context.feed.points()), context.feed.total)
          : h(
              'p',
              { class: 'muted', 'data-testid': 'single-stats', 'data-done': 0 },
              'No single-device run yet.',
            ),
      ]
    case 'ensemble':
      return context.session
        ? [
            ensembleStats(context.session.stats()),
            ...(context.ensemblePlan ? [loadPrediction(context.ensemblePlan, state.window)] : []),
          ]
        : [loading]
    case 'early-exit': {
      const thresholds = earlyExitThresholds(state, context)
      return [
        context.earlyExit && thresholds ? earlyExitFigures(context.earlyExit, thresholds) : loading,
      ]
    }
  }
}

/** The thresholds an early-exit run would use: the user's, the plan's, or the calibrated ones. */
function earlyExitThresholds(
  state: RunPanelState,
  context: RunPanelContext,
): readonly number[] | null {
  if (!context.earlyExit) return null
  return state.earlyExit.thresholds ?? context.thresholds ?? context.earlyExit.calibrated()
}

const openDevices = (context: RunPanelContext) =>
  context.devices.filter((peer) => peer.link === 'open')

function ensembleControls(state: RunPanelState, context: RunPanelContext): Node[] {
  const { session } = context
  const samples = numberInput('Samples', state.ensemble.samples, SAMPLES, (samples) => {
    state.ensemble = { ...state.ensemble, samples }
  })
  const redundancy = h(
    'select',
    {
      'aria-label': 'Redundancy',
      onchange: (event: Event) => {
        const value = (event.target as HTMLSelectElement).value
        state.ensemble = { ...state.ensemble, redundancy: value === 'hedged' ? 'hedged' : 'all' }
      },
    },
    h('option', { value: 'all' }, 'all members'),
    h('option', { value: 'hedged' }, 'hedged'),
  )
  redundancy.value = state.ensemble.redundancy
  const start = h(
    'button',
    { 'data-testid': 'run-samples', 'data-run': true, disabled: !canRun(state, context) },
    'Run',
  )
  start.addEventListener('click', () => {
    session?.run({ ...state.ensemble, window: state.window }).catch(warnFailed)
  })
  return [
    h(
      'form',
      { class: 'row', onsubmit: (event: Event) => event.preventDefault() },
      samples,
      redundancy,
      start,
    ),
  ]
}

function singleControls(state: RunPanelState, context: RunPanelContext): Node[] {
  const { session } = context
  const open = openDevices(context)
  if (!open.some((peer) => peer.info.deviceId === state.single.deviceId))
    state.single.deviceId = open[0]?.info.deviceId ?? null
  const samples = numberInput('Samples', state.single.samples, SAMPLES, (samples) => {
    state.single.samples = samples
  })
  const device = h(
    'select',
    {
      'aria-label': 'Device',
      'data-testid': 'single-device',
      onchange: (event: Event) => {
        state.single.deviceId = (event.target as HTMLSelectElement).value || null
      },
    },
    ...open.map((peer) =>
      h('option', { value: peer.info.deviceId }, `${peer.info.deviceId} ${peer.info.label}`),
    ),
  )
  device.value = state.single.deviceId ?? ''
  const start = h(
    'button',
    { 'data-testid': 'run-single', 'data-run': true, disabled: !canRun(state, context) },
    'Run',
  )
  start.addEventListener('click', () => {
    const deviceId = state.single.deviceId
    if (!session || !deviceId) return
    session
      .runSingle({
        samples: state.single.samples,
        deviceId: deviceId as DeviceId,
        deadlineMs: state.single.deadlineMs,
        window: state.window,
      })
      .catch(warnFailed)
  })
  return [
    h(
      'form',
      { class: 'row', onsubmit: (event: Event) => event.preventDefault() },
      samples,
      device,
      start,
    ),
  ]
}

function summaryView(summary: RunSummary, total: number): HTMLElement {
  return h(
    'p',
    {
      'data-testid': 'single-stats',
      'data-done': summary.done,
      'data-accuracy': summary.accuracy ?? '',
    },
    `${summary.done}/${total} samples`,
    summary.accuracy === null ? '' : ` · accuracy ${summary.accuracy.toFixed(1)}%`,
    summary.p50Ms === null
      ? ''
      : ` · p50 ${summary.p50Ms.toFixed(1)} ms · p95 ${(summary.p95Ms ?? 0).toFixed(1)} ms`,
    summary.requestsPerSecond === null
      ? ''
      : ` · ${summary.requestsPerSecond.toFixed(1)} requests/s`,
    ` · ${summary.errors} failed`,
  )
}

function ensembleStats(stats: RunStats): HTMLElement {
  return h(
    'p',
    {
      'data-testid': 'run-stats',
      'data-done': stats.done,
      'data-accuracy': stats.accuracy ?? '',
    },
    `${stats.done}/${stats.total} samples`,
    stats.accuracy === null ? '' : ` · accuracy ${stats.accuracy.toFixed(1)}%`,
    stats.p50Ms === null
      ? ''
      : ` · p50 ${stats.p50Ms.toFixed(1)} ms · p95 ${(stats.p95Ms ?? 0).toFixed(1)} ms`,
    stats.requestsPerSecond === null ? '' : ` · ${stats.requestsPerSecond.toFixed(1)} requests/s`,
    ` · ${stats.degraded} degraded · ${stats.errors} failed`,
  )
}

/** What the plan predicts for the window in use, beside what the run measures. */
function loadPrediction(plan: EnsemblePlan, window: number): HTMLElement {
  const predicted = atWindow(plan.predictedLatencyMs, plan.capacityRps, window)
  return h(
    'p',
    {
      class: 'muted',
      'data-testid': 'load-prediction',
      'data-requests-per-second': predicted.requestsPerSecond,
    },
    `The plan predicts at most ${predicted.requestsPerSecond.toFixed(0)} requests/s at ${predicted.window} in flight (p50 ${predicted.latencyMs.toFixed(1)} ms), from each device's measured compute alone: devices sharing one machine's cores, and the time spent in browsers between hops, fall below it.`,
  )
}
