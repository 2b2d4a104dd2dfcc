import { type MissingFeature, SUPPORTED_BROWSERS } from './browser-support.ts'
import { h, mount } from './dom.ts'

/** Instead of a room that never connects: what this browser lacks, why, and what to use. */
export function showUnsupported(root: HTMLElement, missing: readonly MissingFeature[]): void {
  mount(
    root,
    h(
      'section',
      { class: 'card', 'data-testid': 'unsupported' },
      h('h1', {}, 'This browser cannot join a Cohort room'),
      h('p', {}, 'It lacks:'),
      h(
        'ul',
        {},
        ...missing.map((m) =>
          h('li', { 'data-feature': m.feature }, h('strong', {}, m.feature), ` — ${m.needed}.`),
        ),
      ),
      h('p', {}, `Open this link in ${SUPPORTED_BROWSERS}.`),
    ),
  )
}
