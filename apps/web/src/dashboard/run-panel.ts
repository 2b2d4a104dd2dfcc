import type { PeerStatus } from '@cohort/mesh'
import type { DeviceId } from '@cohort/protocol'
import { h } from '../dom.ts'
import type { EarlyExitSession } from '../early-exit-session.ts'
import { type EarlyExitControls, earlyExitPanel } from '../early-exit-view.ts'
import type { HostSession, RunOptions, RunStats } from '../host-session.ts'
import type { RunFeed } from './run-feed.ts'
import { type RunMode, type RunSummary, summarize } from './series.ts'

/** The run controls' settings, kept across renders. */
export interface RunPanelState {
  mode: RunMode
  ensemble: RunOptions
  single: { samples: number; deadlineMs: number; deviceId: string | null }
  earlyExit: EarlyExitControls
}

/** The default settings. */
export function initialRunState(): RunPanelState {
  return {
    mode: 'ensemble',
    ensemble: { samples: 300, redundancy: 'all', deadlineMs: 2_000 },
    single: { samples: 300, deadlineMs: 5_000, deviceId: null },
    earlyExit: { samples: 300, deadlineMs: 2_000, thresholds: null },
  }
}

/** What the panel needs of the page. */
export interface RunPanelContext {
  readonly session: HostSession | null
  readonly earlyExit: EarlyExitSession | null
  readonly devices: readonly PeerStatus[]
  /** The plan's early-exit thresholds, when it has some. */
  readonly thresholds: readonly number[] | null
  readonly feed: RunFeed
  readonly rerender: () => void
}

const MODES: readonly [RunMode, string][] = [
  ['single', 'single device (the teacher)'],
  ['ensemble', 'ensemble (RoCoIn)'],
  ['early-exit', 'early exit (DistrEE / DIMEE)'],
]

const warnFailed = (error: unknown) => console.warn('cohort: the run failed', error)

/** One mode switch, the chosen mode's controls and its live figures. */
export function runPanel(state: RunPanelState, context: RunPanelContext): HTMLElement {
  const select = h(
    'select',
    {
      'aria-label': 'Mode',
      'data-testid': 'mode',
      onchange: (event: Event) => {
        const value = (event.target as HTMLSelectElement).value
        state.mode = MODES.find(([mode]) => mode === value)?.[0] ?? 'ensemble'
        context.rerender()
      },
    },
    ...MODES.map(([mode, label]) => h('option', { value: mode }, label)),
  )
  select.value = state.mode
  const body = (): (Node | null)[] => {
    switch (state.mode) {
      case 'single':
        return singleControls(state, context)
      case 'ensemble':
        return ensembleControls(state, context)
      case 'early-exit':
        return context.earlyExit
          ? [
              earlyExitPanel(
                context.earlyExit,
                context.thresholds ?? context.earlyExit.calibrated(),
                state.earlyExit,
                context.rerender,
              ),
            ]
          : [h('p', { class: 'muted' }, 'Loading models…')]
    }
  }
  return h('div', {}, h('p', { class: 'row' }, 'Mode ', select), ...body())
}

function ensembleControls(state: RunPanelState, context: RunPanelContext): (Node | null)[] {
  const { session } = context
  const samples = h('input', {
    type: 'number',
    min: 1,
    max: 1000,
    value: state.ensemble.samples,
    'aria-label': 'Samples',
    // The panel is re-rendered as the room changes: settings live in the state, not the element.
    oninput: (event: Event) => {
      const samples = Number((event.target as HTMLInputElement).value)
      if (samples > 0) state.ensemble = { ...state.ensemble, samples }
    },
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
    { 'data-testid': 'run-samples', disabled: !session || session.stats().running },
    'Run',
  )
  start.addEventListener('click', () => {
    session?.run(state.ensemble).catch(warnFailed)
  })
  return [
    h(
      'form',
      { class: 'row', onsubmit: (event: Event) => event.preventDefault() },
      samples,
      redundancy,
      start,
    ),
    session ? ensembleStats(session.stats()) : h('p', { class: 'muted' }, 'Loading models…'),
  ]
}

function singleControls(state: RunPanelState, context: RunPanelContext): (Node | null)[] {
  const { session, devices } = context
  const open = devices.filter((peer) => peer.link === 'open')
  if (!open.some((peer) => peer.info.deviceId === state.single.deviceId))
    state.single.deviceId = open[0]?.info.deviceId ?? null
  const samples = h('input', {
    type: 'number',
    min: 1,
    max: 1000,
    value: state.single.samples,
    'aria-label': 'Samples',
    oninput: (event: Event) => {
      const samples = Number((event.target as HTMLInputElement).value)
      if (samples > 0) state.single.samples = samples
    },
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
    { 'data-testid': 'run-single', disabled: !session || session.isRunning || open.length === 0 },
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
      })
      .catch(warnFailed)
  })
  const followed = context.feed.mode === 'single'
  return [
    h(
      'form',
      { class: 'row', onsubmit: (event: Event) => event.preventDefault() },
      samples,
      device,
      start,
    ),
    h(
      'p',
      { class: 'muted' },
      'The whole teacher on one device: the baseline the other modes are compared with.',
    ),
    followed
      ? summaryView(summarize(context.feed.points()), context.feed.total)
      : h(
          'p',
          { class: 'muted', 'data-testid': 'single-stats', 'data-done': 0 },
          'No single-device run yet.',
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
    ` · ${stats.degraded} degraded · ${stats.errors} failed`,
  )
}
