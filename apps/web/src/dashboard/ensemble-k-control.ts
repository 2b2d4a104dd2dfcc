import { EnsembleKSchema } from '@cohort/protocol'
import { h } from '../dom.ts'

/** The K values the shipped manifests have student sets for. */
const SHIPPED_KS = [1, 2, 3, 4] as const

/** The ensemble K pinned by the dashboard's URL (`?k=2`), or null: the planner chooses. */
export function pinnedKFromUrl(search: string = location.search): number | null {
  const parsed = EnsembleKSchema.safeParse(Number(new URLSearchParams(search).get('k') ?? ''))
  return parsed.success ? parsed.data : null
}

/**
 * The host's choice of K: "auto" lets the planner choose, a number pins it (say, to compare Ks in
 * a benchmark). The choice is kept in the URL, so a reload or a restarted coordinator keeps it.
 * Built once and never re-rendered, so an open select is not closed by the live figures.
 */
export function ensembleKControl(
  initial: number | null,
  changed: (k: number | null) => void,
): HTMLElement {
  const select = h(
    'select',
    {
      'data-testid': 'ensemble-k',
      'aria-label': 'Ensemble K',
      onchange: () => {
        const k = select.value === 'auto' ? null : Number(select.value)
        const url = new URL(location.href)
        if (k === null) url.searchParams.delete('k')
        else url.searchParams.set('k', String(k))
        history.replaceState(history.state, '', url)
        changed(k)
      },
    },
    h('option', { value: 'auto' }, 'auto (fastest resilient K)'),
    ...[...new Set([...SHIPPED_KS, initial ?? 1])]
      .sort((a, b) => a - b)
      .map((k) => h('option', { value: k }, `K = ${k}`)),
  )
  select.value = initial === null ? 'auto' : String(initial)
  return h('p', { class: 'row' }, 'Student slices ', select)
}
