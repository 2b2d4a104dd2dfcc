type Child = Node | string | number | null | undefined | false
type Attributes = Record<string, string | number | boolean | EventListener | undefined>

/** Creates an element: `h('button', { onclick }, 'Go')`. Attributes starting with `on` are listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue
    if (typeof value === 'function') element.addEventListener(name.slice(2), value)
    else if (value === true) element.setAttribute(name, '')
    else element.setAttribute(name, String(value))
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    element.append(child instanceof Node ? child : String(child))
  }
  return element
}

/**
 * A table's header row, a child of the table itself rather than of a <thead>: Chromium 156 keeps
 * one style object for every <thead> or <tfoot> ever inserted into a document, so a table
 * re-rendered per request grew the dashboard's heap without bound (found by the soak's heap diff).
 */
export function headerRow(...labels: Child[]): HTMLTableRowElement {
  const shown = labels.filter((label) => label !== null && label !== undefined && label !== false)
  return h('tr', {}, ...shown.map((label) => h('th', { scope: 'col' }, label)))
}

/**
 * A whole-number field from `min` to `max` that reports each valid number typed into it. Controls
 * are rebuilt now and then, so the caller keeps the value and passes it back in.
 */
export function numberInput(
  label: string,
  value: number,
  range: { readonly min: number; readonly max: number },
  changed: (value: number) => void,
): HTMLInputElement {
  return h('input', {
    type: 'number',
    min: range.min,
    max: range.max,
    value,
    'aria-label': label,
    oninput: (event: Event) => {
      const typed = Number((event.target as HTMLInputElement).value)
      if (Number.isInteger(typed) && typed >= range.min && typed <= range.max) changed(typed)
    },
  })
}

/** Replaces an element's children. */
export function mount(parent: Element, ...children: Node[]): void {
  parent.replaceChildren(...children)
}

/** Runs `render` at most once per animation frame however often it is asked for. */
export function frameScheduler(render: () => void): () => void {
  let queued = false
  return () => {
    if (queued) return
    queued = true
    requestAnimationFrame(() => {
      queued = false
      render()
    })
  }
}
