import { h } from '../dom.ts'

/** What happened in the room. */
export type EventKind = 'join' | 'leave' | 'replan' | 'failure' | 'degraded'

/** One line of the log. */
export interface LogEntry {
  readonly id: number
  readonly kind: EventKind
  /** Wall-clock time of the latest occurrence (ms since the epoch). */
  readonly at: number
  readonly text: string
  /** How many occurrences this line stands for (repeats with the same key are merged). */
  readonly count: number
  readonly key: string | null
}

/**
 * The room's event log, newest first and bounded, so a long run cannot grow it without end.
 * Repeats of one thing (every degraded answer of a run with one silent group) share a key and
 * are merged into the newest line while nothing else happened in between, so they do not push
 * the joins and replans out of the log.
 */
export class EventLog {
  private readonly lines: LogEntry[] = []
  private nextId = 1
  private changes = 0

  constructor(
    private readonly limit = 100,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Adds a line, or merges it into the newest one when both have `key`. */
  add(kind: EventKind, text: string, key: string | null = null): void {
    this.changes++
    const newest = this.lines[0]
    if (key !== null && newest?.key === key && newest.kind === kind) {
      this.lines[0] = { ...newest, at: this.clock(), text, count: newest.count + 1 }
      return
    }
    this.lines.unshift({ id: this.nextId++, kind, at: this.clock(), text, count: 1, key })
    if (this.lines.length > this.limit) this.lines.length = this.limit
  }

  /** Grows with every change, so a view re-renders only when there is something new. */
  get version(): number {
    return this.changes
  }

  /** The lines, newest first. */
  entries(): readonly LogEntry[] {
    return this.lines
  }
}

const time = (at: number) => new Date(at).toLocaleTimeString([], { hour12: false })

/** The log as a list; each line carries its kind for styling and tests. */
export function eventLogView(log: EventLog): HTMLElement {
  const lines = log.entries()
  return h(
    'ol',
    { class: 'event-log', 'data-testid': 'event-log', 'data-count': lines.length },
    ...lines.map((line) =>
      h(
        'li',
        { 'data-kind': line.kind, 'data-count': line.count },
        h(
          'time',
          { class: 'mono muted', datetime: new Date(line.at).toISOString() },
          time(line.at),
        ),
        h('span', { class: 'kind' }, line.kind),
        h('span', {}, line.text, line.count > 1 ? ` (×${line.count})` : ''),
      ),
    ),
  )
}
