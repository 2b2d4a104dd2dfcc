import type { Plan } from '@cohort/protocol'
import { h, headerRow } from './dom.ts'

/** The room's plan: K, the groups and their members (best first), predictions, and why. */
export function planView(plan: Plan | null, served: (deviceId: string) => number): HTMLElement {
  if (!plan)
    return h(
      'p',
      { class: 'muted', 'data-testid': 'plan' },
      'No plan yet: devices are still loading their models.',
    )
  const ensemble = plan.ensemble
  if (!ensemble) {
    return h(
      'p',
      { class: 'muted', 'data-testid': 'plan', 'data-version': plan.version },
      `Plan v${plan.version}: no profiled devices for ${plan.task} yet.`,
    )
  }
  return h(
    'div',
    { 'data-testid': 'plan', 'data-version': plan.version, 'data-k': ensemble.k },
    h(
      'p',
      {},
      h('strong', {}, `K = ${ensemble.k}`),
      ensemble.pinnedK === null
        ? ''
        : ensemble.pinnedK === ensemble.k
          ? ' (pinned)'
          : ` (K = ${ensemble.pinnedK} pinned, but the room cannot form it)`,
      ` · predicted ${ensemble.predictedLatencyMs.toFixed(2)} ms · at most ${ensemble.capacityRps.toFixed(0)} requests/s · `,
      ensemble.resilienceMet ? 'resilience target met' : 'resilience target not reachable',
      h('span', { class: 'muted' }, ` · plan v${plan.version}`),
    ),
    h(
      'table',
      {},
      headerRow(
        'Slice',
        'Student',
        h('th', {}, 'Members (served)'),
        h(
          'th',
          {
            title:
              'Members an "all" request asks at once; the others only if those fail or are late',
          },
          'Asked at once',
        ),
        'Predicted',
        h('th', {}, 'P(group fails)'),
      ),
      h(
        'tbody',
        {},
        ...ensemble.groups.map((group) =>
          h(
            'tr',
            { 'data-slice': group.slice, 'data-members': group.members.join(' ') },
            h('td', {}, String(group.slice)),
            h('td', { class: 'mono' }, group.student),
            h(
              'td',
              { class: 'mono' },
              group.members.map((member) => `${member} (${served(member)})`).join(', '),
            ),
            h('td', {}, `${group.fanout} of ${group.members.length}`),
            h('td', {}, `${group.predictedMs.toFixed(2)} ms`),
            h('td', {}, group.failureProbability.toExponential(1)),
          ),
        ),
      ),
    ),
    h(
      'ul',
      { class: 'muted', 'data-testid': 'plan-explanation' },
      ...ensemble.explanation.map((line) => h('li', {}, line)),
    ),
  )
}
