import type { CohortError, DeviceId, Result } from '@cohort/protocol'

/** One try of a hop on one member of a tier. */
export type HopAttempt<T> = (
  deviceId: DeviceId,
  member: number,
  signal: AbortSignal,
) => Promise<Result<T, CohortError | string>>

/** Options of a hop to a tier. */
export interface FailoverOptions<T> {
  /** The tier's members, best first. */
  readonly members: readonly DeviceId[]
  /**
   * ms to wait for `member`'s answer before re-sending to the next one (it stays in the race);
   * when the last member's window passes too, the tier is given up (null).
   */
  readonly ackMs: (member: number) => number
  /** Aborted when the whole hop is out of time or cancelled: the outcome is then null. */
  readonly signal: AbortSignal
  readonly attempt: HopAttempt<T>
  /** A member failed or was passed over (not called for members cancelled because another won). */
  readonly onMiss?: (deviceId: DeviceId, why: string) => void
}

/** The hop's outcome: the first answer, or null, and how many members were tried. */
export interface FailoverOutcome<T> {
  readonly winner: {
    readonly value: T
    readonly deviceId: DeviceId
    readonly member: number
  } | null
  /** Members the hop was sent to (1 + re-sends). */
  readonly sent: number
  /** Members that failed (error, bad answer) or missed their ack window before the outcome. */
  readonly failed: number
}

/**
 * Sends a hop to the best member of a tier; a member that fails, or does not answer within its
 * ack window, is followed by the next member (re-sent; a late answer from an earlier member still
 * wins), and the first answer wins: the others are cancelled. Resolves exactly once: with the
 * winner, or with null when every member failed or missed its window, or the hop's signal ended
 * it. Owns its timers and listeners; never rejects.
 */
export function sendWithFailover<T>(options: FailoverOptions<T>): Promise<FailoverOutcome<T>> {
  const { members, signal } = options
  const done = new AbortController()
  return new Promise<FailoverOutcome<T>>((resolve) => {
    let settled = false
    let started = 0
    let failed = 0
    // Members already given up on (failed or missed their window): counted once, re-sent once.
    const givenUp = new Set<number>()
    let ackTimer: ReturnType<typeof setTimeout> | undefined
    const settle = (winner: FailoverOutcome<T>['winner']) => {
      if (settled) return
      settled = true
      clearTimeout(ackTimer)
      signal.removeEventListener('abort', onAbort)
      done.abort() // the members still working are cancelled: first answer wins
      resolve({ winner, sent: started, failed })
    }
    const onAbort = () => settle(null)
    // A member failed or was not acknowledged in time: on to the next member; with none left
    // (and nobody else still in the race), the tier is given up.
    const giveUp = (member: number, why: string) => {
      if (settled || givenUp.has(member)) return
      givenUp.add(member)
      failed++
      const deviceId = members[member]
      if (deviceId !== undefined) options.onMiss?.(deviceId, why)
      if (started < members.length) startNext()
      else if (givenUp.size === started) settle(null)
    }
    const startNext = () => {
      clearTimeout(ackTimer)
      const member = started
      const deviceId = members[member]
      if (settled || signal.aborted || deviceId === undefined) return
      started++
      void options.attempt(deviceId, member, done.signal).then(
        (outcome) => {
          if (outcome.ok) {
            settle({ value: outcome.value, deviceId, member })
            return
          }
          if (settled) return // cancelled because another member won, or the hop ended
          giveUp(member, typeof outcome.error === 'string' ? outcome.error : outcome.error.message)
        },
        // Attempts never reject; should one do so anyway, it counts as that member's failure.
        (error: unknown) => {
          giveUp(member, String(error))
        },
      )
      ackTimer = setTimeout(
        () => giveUp(member, `no answer within ${options.ackMs(member)} ms`),
        options.ackMs(member),
      )
    }
    if (signal.aborted || members.length === 0) {
      settle(null)
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    startNext()
  })
}
