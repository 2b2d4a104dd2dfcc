import { engineSummary } from '@cohort/protocol'
import type { RuntimeState } from './device-runtime.ts'
import { h, headerRow } from './dom.ts'

const ROW_STATE_TEXT: Record<RuntimeState['models'][number]['state'], string> = {
  deferred: 'when the plan names it',
  waiting: 'waiting',
  downloading: 'downloading',
  verified: 'verified (not loaded)',
  ready: 'loaded',
  failed: 'failed',
}

const PHASE_TEXT: Record<RuntimeState['phase'], string> = {
  downloading: 'Downloading models…',
  starting: 'Starting the inference worker…',
  calibrating: 'Measuring which engine is fastest…',
  loading: 'Loading models…',
  profiling: 'Measuring this device…',
  ready: 'Ready',
  failed: 'Failed',
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`

/** The device page's Models section: downloads, engine choice, profile. */
export function modelsView(
  state: RuntimeState | null,
  task: string,
  loadError: string | null = null,
): HTMLElement {
  if (!state) {
    return h(
      'section',
      {
        class: 'card',
        'data-testid': 'models',
        'data-phase': loadError ? 'failed' : 'downloading',
        'data-task': task,
      },
      loadError
        ? h('p', { 'data-testid': 'models-error', style: 'color: var(--bad)' }, loadError)
        : h('p', { class: 'muted' }, 'Preparing the runtime…'),
    )
  }
  return h(
    'section',
    { class: 'card', 'data-testid': 'models', 'data-phase': state.phase, 'data-task': state.task },
    h(
      'p',
      {},
      h('strong', { 'data-testid': 'models-phase' }, PHASE_TEXT[state.phase]),
      ' · task ',
      h('span', { class: 'mono' }, state.task),
      ' · ',
      h('a', { href: `?task=${state.task === 'digits' ? 'fashion' : 'digits'}` }, 'switch task'),
    ),
    state.error
      ? h(
          'p',
          { 'data-testid': 'models-error', style: 'color: var(--bad)' },
          state.error,
          state.models.length === 0
            ? h(
                'span',
                { class: 'muted' },
                ' — is this task shipped? Try ',
                h('a', { href: '?task=digits' }, 'digits'),
                ' or ',
                h('a', { href: '?task=fashion' }, 'fashion'),
                '.',
              )
            : null,
        )
      : null,
    state.storage
      ? h(
          'p',
          { class: 'muted', 'data-testid': 'storage', 'data-kind': state.storage.kind },
          `Storage: ${state.storage.kind === 'cache-api' ? 'Cache API' : 'memory'} — ${state.storage.reason}. Hashing: ${state.hashing === 'webcrypto' ? 'WebCrypto' : 'JavaScript (no secure context)'}.`,
        )
      : null,
    state.ep
      ? h(
          'p',
          {
            'data-testid': 'ep-choice',
            'data-ep': state.ep.executionProvider,
            'data-threads': state.ep.threads,
          },
          h('strong', {}, state.ep.executionProvider.toUpperCase()),
          ` · ${state.ep.threads} thread${state.ep.threads === 1 ? '' : 's'} · `,
          state.engine
            ? h(
                'span',
                { 'data-testid': 'engine-build', 'data-build': state.engine.build },
                state.engine.build === 'full' ? 'WebGPU-capable build · ' : 'WASM-only build · ',
              )
            : null,
          h('span', { class: 'muted', 'data-testid': 'ep-reason' }, state.ep.reason),
          state.restarts > 0
            ? h('span', { 'data-testid': 'restarts' }, ` · worker restarted ${state.restarts}×`)
            : null,
        )
      : null,
    state.models.length > 0 ? modelTable(state) : null,
    state.profile ? profileTable(state) : null,
  )
}

function modelTable(state: RuntimeState): HTMLElement {
  return h(
    'table',
    { 'data-testid': 'model-downloads' },
    headerRow('Model', 'Download', 'State'),
    h(
      'tbody',
      {},
      ...state.models.map((row) =>
        h(
          'tr',
          {
            'data-model': row.id,
            'data-state': row.state,
            'data-source': row.source ?? '',
            'data-bytes-done': row.bytesDone,
            'data-bytes-total': row.bytesTotal,
          },
          h('td', { class: 'mono', title: kib(row.bytesTotal) }, row.id),
          h(
            'td',
            {},
            h('progress', {
              'data-testid': 'model-progress',
              max: row.bytesTotal,
              value: row.bytesDone,
              style: 'width: 5rem',
            }),
            ' ',
            h(
              'span',
              { class: 'muted mono', style: 'font-size: 0.8rem', 'data-testid': 'model-bytes' },
              `${row.bytesDone}/${row.bytesTotal}`,
            ),
            row.source === 'cache' ? h('span', { class: 'muted' }, ' (cached)') : null,
          ),
          h('td', {}, row.error ?? ROW_STATE_TEXT[row.state]),
        ),
      ),
    ),
  )
}

function profileTable(state: RuntimeState): HTMLElement | null {
  const profile = state.profile
  if (!profile) return null
  return h(
    'div',
    {},
    h(
      'p',
      { class: 'muted', 'data-testid': 'profile-summary' },
      `${profile.label} · ${profile.cores ?? '?'} cores · ${profile.memoryGb ?? '?'} GB memory hint · ${profile.executionProvider.toUpperCase()} × ${profile.threads}`,
    ),
    h(
      'p',
      {
        class: 'muted',
        'data-testid': 'engine-facts',
        'data-engine': profile.engine.engine,
        'data-clock-step-ms': String(profile.engine.clockStepMs),
        'data-webgpu-api': String(profile.engine.webgpuApi),
        'data-wake-lock': String(profile.engine.wakeLock),
        'data-isolated': String(profile.engine.crossOriginIsolated),
      },
      `Engine: ${engineSummary(profile.engine)}`,
    ),
    h(
      'table',
      { 'data-testid': 'profile' },
      headerRow('Model', 'Median ms', 'p95 ms', 'Round trip ms'),
      h(
        'tbody',
        {},
        ...profile.models.map((m) =>
          h(
            'tr',
            { 'data-model': m.modelId },
            h('td', { class: 'mono' }, m.modelId),
            h('td', {}, m.medianMs.toFixed(3)),
            h('td', {}, m.p95Ms.toFixed(3)),
            h('td', {}, m.roundTripMedianMs.toFixed(3)),
          ),
        ),
      ),
    ),
  )
}
