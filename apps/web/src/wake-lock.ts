/** Where the screen wake lock stands, for the page to show. */
export type WakeLockStatus =
  | { readonly state: 'off' }
  | { readonly state: 'held' }
  /** Wanted, but the page is hidden: the browser dropped it and it comes back when visible. */
  | { readonly state: 'waiting' }
  /** Wanted, but this browser will not give it; `reason` says why (shown as "screen may sleep"). */
  | { readonly state: 'unavailable'; readonly reason: string }

/** The parts of `navigator.wakeLock` this module uses. */
export interface WakeLockApi {
  request(type: 'screen'): Promise<WakeLockSentinelLike>
}

/** The parts of a `WakeLockSentinel` this module uses. */
export interface WakeLockSentinelLike extends EventTarget {
  readonly released: boolean
  release(): Promise<void>
}

/** The parts of `document` this module uses. */
export interface VisibilitySource extends EventTarget {
  readonly visibilityState: DocumentVisibilityState
}

/** Where the module finds the browser (the page's globals by default; fakes in unit tests). */
export interface WakeLockEnvironment {
  readonly wakeLock: WakeLockApi | undefined
  readonly document: VisibilitySource
  readonly secureContext: boolean
}

function browserEnvironment(): WakeLockEnvironment {
  return {
    wakeLock: 'wakeLock' in navigator ? navigator.wakeLock : undefined,
    document,
    secureContext: isSecureContext,
  }
}

/**
 * Keeps the screen on while it is wanted (a device that sleeps stops serving). The browser
 * releases the lock whenever the page is hidden, so it is requested again each time the page
 * becomes visible. Feature-detected: over plain http on a LAN the API does not exist.
 */
export class ScreenWakeLock {
  private wanted = false
  private sentinel: WakeLockSentinelLike | null = null
  private pending = false
  private current: WakeLockStatus = { state: 'off' }
  private asked = 0
  private readonly onVisibility = () => this.acquire()

  constructor(
    private readonly changed: (status: WakeLockStatus) => void,
    private readonly env: WakeLockEnvironment = browserEnvironment(),
  ) {
    env.document.addEventListener('visibilitychange', this.onVisibility)
  }

  /** The lock's state now. */
  get status(): WakeLockStatus {
    return this.current
  }

  /** How many times the lock was asked of the browser (re-acquisition shows here). */
  get requests(): number {
    return this.asked
  }

  /** Asks for the lock (true) or gives it back (false). Idempotent. */
  want(on: boolean): void {
    if (on === this.wanted) return
    this.wanted = on
    if (on) {
      this.acquire()
      return
    }
    this.releaseHeld()
    this.set({ state: 'off' })
  }

  /** Releases the lock and stops listening to the page. */
  dispose(): void {
    this.want(false)
    this.env.document.removeEventListener('visibilitychange', this.onVisibility)
  }

  private acquire(): void {
    if (!this.wanted || this.pending || (this.sentinel && !this.sentinel.released)) return
    const { wakeLock, document, secureContext } = this.env
    if (!wakeLock) {
      this.set({
        state: 'unavailable',
        reason: secureContext
          ? 'this browser has no screen wake lock'
          : 'the page is not a secure context (open it over https)',
      })
      return
    }
    if (document.visibilityState !== 'visible') {
      this.set({ state: 'waiting' })
      return
    }
    this.pending = true
    this.asked++
    wakeLock.request('screen').then(
      (sentinel) => {
        this.pending = false
        if (!this.wanted) {
          void sentinel.release().catch(() => undefined)
          return
        }
        this.sentinel = sentinel
        sentinel.addEventListener(
          'release',
          () => {
            if (this.sentinel !== sentinel) return
            this.sentinel = null
            // Released by the browser (page hidden): wait for the page to be visible again.
            if (this.wanted) this.set({ state: 'waiting' })
          },
          { once: true },
        )
        this.set({ state: 'held' })
      },
      (error: unknown) => {
        this.pending = false
        // Refused (permission policy, battery saver, a headless browser). The next
        // visibilitychange to visible asks again.
        if (this.wanted) {
          this.set({
            state: 'unavailable',
            reason: error instanceof Error ? error.message : String(error),
          })
        }
      },
    )
  }

  private releaseHeld(): void {
    const sentinel = this.sentinel
    this.sentinel = null
    if (sentinel && !sentinel.released) void sentinel.release().catch(() => undefined)
  }

  private set(status: WakeLockStatus): void {
    this.current = status
    this.changed(status)
  }
}
