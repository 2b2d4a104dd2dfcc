import type { Plan } from '@cohort/protocol'
import { h, headerRow, numberInput } from './dom.ts'
import type {
  EarlyExitPrediction,
  EarlyExitRunOptions,
  EarlyExitRunStats,
  EarlyExitSession,
} from './early-exit-session.ts'

/** The early-exit tiers of a plan: mobile (the requester), then edge and cloud, best member first. */
export function tiersView(plan: Plan | null): HTMLElement {
  const ee = plan?.earlyExit
  if (!ee)
    return h('p', { class: 'muted', 'data-testid': 'tiers' }, 'No early-exit tiers planned yet.')
  return h(
    'div',
    { 'data-testid': 'tiers', 'data-version': plan?.version ?? 0 },
    h(
      'p',
      {},
      `Expected remote time ${ee.expectedRemoteMs.toFixed(2)} ms per request · the remote tiers take at most ${ee.capacityRps.toFixed(0)} requests/s`,
    ),
    h(
      'table',
      {},
      headerRow('Tier', 'Segment', h('th', {}, 'Members (best first)'), 'Predicted hop'),
      h(
        'tbody',
        {},
        h(
          'tr',
          { 'data-tier': 'mobile' },
          h('td', {}, 'mobile'),
          h('td', { class: 'mono' }, ee.segments[0] ?? ''),
          h('td', {}, 'this dashboard (the requester)'),
          h('td', {}, '—'),
        ),
        ...ee.tiers.map((tier) =>
          h(
            'tr',
            { 'data-tier': tier.tier, 'data-members': tier.members.join(' ') },
            h('td', {}, tier.tier),
            h('td', { class: 'mono' }, tier.segment),
            h('td', { class: 'mono' }, tier.members.join(', ')),
            h('td', {}, `${tier.predictedMs.toFixed(2)} ms`),
          ),
        ),
      ),
    ),
    h(
      'ul',
      { class: 'muted', 'data-testid': 'tiers-explanation' },
      ...ee.explanation.map((line) => h('li', {}, line)),
    ),
  )
}

/** The early-exit run's settings, kept across renders. */
export interface EarlyExitControls {
  samples: number
  deadlineMs: number
  /** null: the plan's calibrated thresholds. */
  thresholds: number[] | null
  /** Requests in flight at once. */
  window: number
}

const percent = (x: number) => `${(100 * x).toFixed(1)}%`

/** The early-exit run's controls: samples, deadline, Run, and a threshold slider per exit. */
export function earlyExitControls(
  session: EarlyExitSession,
  calibrated: readonly number[],
  controls: EarlyExitControls,
  rerender: () => void,
): HTMLElement[] {
  const thresholds = controls.thresholds ?? calibrated
  const samples = numberInput('Samples', controls.samples, { min: 1, max: 1000 }, (samples) => {
    controls.samples = samples
  })
  const deadline = numberInput(
    'Deadline (ms)',
    controls.deadlineMs,
    { min: 1, max: 60_000 },
    (deadlineMs) => {
      controls.deadlineMs = deadlineMs
    },
  )
  deadline.title = 'Deadline per request, ms'
  const start = h(
    'button',
    { 'data-testid': 'run-early-exit', 'data-run': true, disabled: session.isRunning },
    'Run early exit',
  )
  start.addEventListener('click', () => {
    const options: EarlyExitRunOptions = {
      samples: controls.samples,
      deadlineMs: controls.deadlineMs,
      window: controls.window,
      ...(controls.thresholds ? { thresholds: controls.thresholds } : {}),
    }
    session.run(options).catch((error: unknown) => console.warn('cohort: the run failed', error))
  })
  const sliders = thresholds.map((alpha, exit) =>
    h(
      'label',
      { class: 'threshold', style: 'margin-right:1.5em', title: `exit ${exit + 1} threshold` },
      `α${exit + 1} `,
      h('input', {
        type: 'range',
        min: 0,
        max: 1,
        step: 0.001,
        value: alpha,
        'data-testid': `threshold-${exit + 1}`,
        onchange: (event: Event) => {
          const next = [...thresholds]
          next[exit] = Number((event.target as HTMLInputElement).value)
          controls.thresholds = next
          rerender()
        },
      }),
      ` ${alpha.toFixed(3)}`,
    ),
  )
  const reset = h(
    'button',
    {
      class: 'secondary',
      type: 'button',
      disabled: controls.thresholds === null,
      onclick: () => {
        controls.thresholds = null
        rerender()
      },
    },
    'Calibrated',
  )
  return [
    h(
      'form',
      { class: 'row', onsubmit: (event: Event) => event.preventDefault() },
      samples,
      deadline,
      start,
    ),
    h('div', { class: 'row' }, ...sliders, reset),
  ]
}

/** The early-exit run's live figures: the prediction for the thresholds in use, and the run so far. */
export function earlyExitFigures(
  session: EarlyExitSession,
  thresholds: readonly number[],
): HTMLElement {
  const prediction = session.predict(thresholds)
  if (!prediction && !session.profiled) {
    // An override needs the per-exit confidences of the shipped sample: measure them once.
    session.measureProfile().catch((error: unknown) => {
      console.warn('cohort: could not measure the exit profile', error)
    })
  }
  return h(
    'div',
    { 'data-testid': 'early-exit' },
    predictionView(prediction, session.profiled),
    statsView(session.stats()),
  )
}

function predictionView(prediction: EarlyExitPrediction | null, profiled: boolean): HTMLElement {
  if (!prediction) {
    return h(
      'p',
      { class: 'muted', 'data-testid': 'ee-prediction' },
      profiled
        ? 'No prediction for these thresholds.'
        : 'Measuring every exit on the shipped sample to predict these thresholds…',
    )
  }
  const source =
    prediction.source === 'manifest'
      ? "the manifest's calibrated figures (shipped sample)"
      : 'per-exit confidences measured here on the shipped sample (the manifest calibrates only its own thresholds)'
  return h(
    'p',
    {
      'data-testid': 'ee-prediction',
      'data-accuracy': prediction.accuracy,
      'data-cost-reduction': prediction.costReduction,
      'data-source': prediction.source,
    },
    `Predicted: accuracy ${prediction.accuracy.toFixed(2)}% · cost reduction ${percent(prediction.costReduction)} vs cloud-only · exits ${prediction.exitFractions.map(percent).join(' / ')}`,
    h('span', { class: 'muted' }, ` — from ${source}`),
  )
}

function statsView(stats: EarlyExitRunStats): HTMLElement {
  const s = stats.summary
  const bars = s.exitCounts.map((count, exit) =>
    h(
      'div',
      { class: 'exit-bar', 'data-exit': exit, 'data-count': count },
      h('span', { class: 'mono' }, `exit ${exit + 1} `),
      h('span', {
        class: 'bar',
        style: `display:inline-block;height:0.8em;background:currentColor;width:${(100 * (s.exitFractions[exit] ?? 0)).toFixed(1)}%`,
      }),
      ` ${count}`,
    ),
  )
  return h(
    'div',
    {},
    h(
      'p',
      {
        'data-testid': 'ee-stats',
        'data-done': stats.done,
        'data-accuracy': s.accuracy ?? '',
        'data-cost-reduction': s.costReduction ?? '',
        'data-exit-counts': s.exitCounts.join(','),
        'data-bytes': s.bytes,
      },
      `${stats.done}/${stats.total} samples`,
      s.accuracy === null ? '' : ` · accuracy ${s.accuracy.toFixed(2)}%`,
      s.costReduction === null
        ? ''
        : ` · cost reduction ${percent(s.costReduction)} vs cloud-only (${(s.meanCost ?? 0).toFixed(3)} vs ${stats.cloudOnlyCost.toFixed(3)} per request)`,
      s.meanBytes === null ? '' : ` · ${s.meanBytes.toFixed(0)} B/request on the wire`,
      stats.p50Ms === null
        ? ''
        : ` · p50 ${stats.p50Ms.toFixed(1)} ms · p95 ${(stats.p95Ms ?? 0).toFixed(1)} ms`,
      ` · ${s.offloads} offloads · ${s.failovers} failovers · ${s.deadlineExits} deadline-exits · ${s.degraded} degraded · ${stats.errors} failed`,
    ),
    h('div', { 'data-testid': 'exit-histogram' }, ...bars),
    h(
      'p',
      { class: 'muted' },
      `MACs per tier: ${s.macsPerSegment.map((macs) => `${(macs / 1e6).toFixed(1)} M`).join(' / ')}; thresholds ${stats.thresholds.map((alpha) => alpha.toFixed(3)).join(', ')}`,
    ),
  )
}
