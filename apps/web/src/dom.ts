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

/** Replaces an element's children. */
export function mount(parent: Element, ...children: Node[]): void {
  parent.replaceChildren(...children)
}

/**
 * Replaces `parent`'s children with `next`, except under a person editing a control in it: a live
 * panel re-rendered every frame would otherwise drop their focus and half-typed value, or close a
 * menu they opened. A focused text or number field is carried into the new tree (the same element,
 * its value and caret) and focused again. A focused menu or slider keeps the whole old tree until it
 * is changed, when it lets go of the focus, so the panel catches up.
 */
export function mountKeepingEdits(parent: Element, next: Element): void {
  letGoOfMenusOnChange(parent)
  const active = document.activeElement
  if (!(active instanceof HTMLElement) || !parent.contains(active)) {
    mount(parent, next)
    return
  }
  if (isMenuOrSlider(active)) return
  const key = active.getAttribute('data-testid') ?? active.getAttribute('aria-label')
  const counterpart =
    key === null
      ? null
      : [...next.querySelectorAll(active.tagName)].find(
          (element) =>
            (element.getAttribute('data-testid') ?? element.getAttribute('aria-label')) === key,
        )
  if (
    !(active instanceof HTMLInputElement || active instanceof HTMLTextAreaElement) ||
    !counterpart
  ) {
    mount(parent, next)
    return
  }
  const caret = selection(active)
  counterpart.replaceWith(active)
  mount(parent, next)
  active.focus()
  if (caret) active.setSelectionRange(caret[0], caret[1])
}

const lettingGo = new WeakSet<Element>()

function letGoOfMenusOnChange(parent: Element): void {
  if (lettingGo.has(parent)) return
  lettingGo.add(parent)
  parent.addEventListener('change', (event) => {
    if (isMenuOrSlider(event.target)) event.target.blur()
  })
}

function isMenuOrSlider(element: unknown): element is HTMLSelectElement | HTMLInputElement {
  return (
    element instanceof HTMLSelectElement ||
    (element instanceof HTMLInputElement && element.type === 'range')
  )
}

/** The caret of a field that has one (number fields have none). */
function selection(field: HTMLInputElement | HTMLTextAreaElement): [number, number] | null {
  try {
    return field.selectionStart === null || field.selectionEnd === null
      ? null
      : [field.selectionStart, field.selectionEnd]
  } catch {
    return null
  }
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
