import type { CohortError, DeviceId, Result } from '@cohort/protocol'

/** One try on one member; `signal` is aborted once the race is over (another member won). */
export type MemberAttempt<T> = (
  deviceId: DeviceId,
  member: number,
  signal: AbortSignal,
) => Promise<Result<T, CohortError | string>>

/** How a race over a group's members is run. */
export interface RaceOptions<T> {
  /** The members, in the order they are asked. */
  readonly members: readonly DeviceId[]
  /**
   * ms after asking `member` before the next member is asked as well (the first stays in the
   * race): 0 asks every member at once (ensemble "all"); a hedge delay for "hedged"; an ack window
   * for early-exit failover. A member that fails is followed by the next one at once.
   */
  readonly staggerMs: (member: number) => number
  /**
   * When true, a member that has not answered `staggerMs` after it was asked is given up: it
   * counts as a miss (its late answer still wins), and once every member is given up the race
   * ends without a winner. When false, asked members are waited for until `signal` ends the race.
   */
  readonly windowIsMiss: boolean
  /** Ends the race without a winner (deadline, cancellation). */
  readonly signal: AbortSignal
  readonly attempt: MemberAttempt<T>
  /** A member failed or was given up, before the race ended (never for members cancelled after it). */
  readonly onMiss?: (deviceId: DeviceId, why: string) => void
}

/** The race's one outcome: the first answer, or null, and how many members were asked. */
export interface RaceOutcome<T> {
  readonly winner: {
    readonly value: T
    readonly deviceId: DeviceId
    readonly member: number
  } | null
  /** Members asked (1 + those asked after a stagger or a failure). */
  readonly sent: number
  /** Members that failed or were given up before the outcome. */
  readonly failed: number
}

/**
 * The first-answer-wins race every redundant request runs: ask the members of a group in order,
 * the next one `staggerMs` after the last (or at once when one fails), take the first good answer
 * and cancel the rest. Resolves exactly once: with the winner, or with null when every member
 * failed (or was given up) or the signal ended the race. Owns its timers and listeners; never
 * rejects.
 */
export function firstAnswer<T>(options: RaceOptions<T>): Promise<RaceOutcome<T>> {
  const { members, signal } = options
  const done = new AbortController()
  return new Promise<RaceOutcome<T>>((resolve) => {
    let settled = false
    let started = 0
    let failed = 0
    // Members failed or given up: each counted once, and followed by the next member once.
    const givenUp = new Set<number>()
    let staggerTimer: ReturnType<typeof setTimeout> | undefined
    const settle = (winner: RaceOutcome<T>['winner']) => {
      if (settled) return
      settled = true
      clearTimeout(staggerTimer)
      signal.removeEventListener('abort', onAbort)
      done.abort() // the members still working are cancelled: first answer wins
      resolve({ winner, sent: started, failed })
    }
    const onAbort = () => settle(null)
    const giveUp = (member: number, why: string) => {
      if (settled || givenUp.has(member)) return
      givenUp.add(member)
      failed++
      const deviceId = members[member]
      if (deviceId !== undefined) options.onMiss?.(deviceId, why)
      if (started < members.length) askNext()
      else if (givenUp.size === started) settle(null)
    }
    const askNext = (): void => {
      clearTimeout(staggerTimer)
      const member = started
      const deviceId = members[member]
      if (settled || signal.aborted || deviceId === undefined) return
      started++
      void options.attempt(deviceId, member, done.signal).then(
        (outcome) => {
          if (outcome.ok) settle({ value: outcome.value, deviceId, member })
          else
            giveUp(
              member,
              typeof outcome.error === 'string' ? outcome.error : outcome.error.message,
            )
        },
        // Attempts should not reject; should one do so anyway, it counts as that member's failure.
        (error: unknown) => giveUp(member, String(error)),
      )
      const delay = options.staggerMs(member)
      if (options.windowIsMiss) {
        staggerTimer = setTimeout(() => giveUp(member, `no answer within ${delay} ms`), delay)
      } else if (started < members.length) {
        if (delay <= 0) askNext()
        else staggerTimer = setTimeout(askNext, delay)
      }
    }
    if (signal.aborted || members.length === 0) {
      settle(null)
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    askNext()
  })
}
