/**
 * A log that says the first of a kind of event at once and then at most one summary line per
 * interval, so a flood (of bad messages, refused connections) costs no more than a trickle of
 * lines. Keys name the kind of event, e.g. "rate-limited 10.0.0.7".
 */
export class ThrottledLog {
  readonly #log: (line: string) => void
  readonly #now: () => number
  readonly #intervalMs: number
  readonly #maxKeys: number
  /** By key: when the last line was written and how many events it has not told of since. */
  readonly #entries = new Map<string, { loggedAt: number; suppressed: number }>()

  constructor(
    log: (line: string) => void,
    now: () => number,
    intervalMs = 10_000,
    maxKeys = 1_000,
  ) {
    this.#log = log
    this.#now = now
    this.#intervalMs = intervalMs
    this.#maxKeys = maxKeys
  }

  /** Logs `line` now, or counts it for the next summary of `key`. */
  log(key: string, line: string): void {
    const now = this.#now()
    const entry = this.#entries.get(key)
    if (entry && now - entry.loggedAt < this.#intervalMs) {
      entry.suppressed++
      return
    }
    const more = entry && entry.suppressed > 0 ? ` (and ${entry.suppressed} more like it)` : ''
    this.#entries.delete(key)
    if (this.#entries.size >= this.#maxKeys) {
      const oldest = this.#entries.keys().next()
      if (!oldest.done) this.#entries.delete(oldest.value)
    }
    this.#entries.set(key, { loggedAt: now, suppressed: 0 })
    this.#log(`${line}${more}`)
  }
}
