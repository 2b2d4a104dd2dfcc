import { z } from 'zod'

/** Every error that crosses a socket, a data channel or a worker has one of these codes. */
export const ErrorCodeSchema = z.enum([
  'bad-message',
  'bad-frame',
  'version-mismatch',
  'room-not-found',
  'room-full',
  'room-locked',
  'room-ended',
  'banned',
  'rate-limited',
  'payload-too-large',
  'not-in-room',
  'peer-not-found',
  'forbidden',
  'timeout',
  'cancelled',
  'peer-gone',
  'no-handler',
  'handler-failed',
  'not-connected',
  'no-plan',
  // A device's runtime failed; its own code crosses the wire, so a requester can tell a model
  // that is not loaded yet from bad inputs or a crashed worker.
  'not-loaded',
  'bad-input',
  'model-failed',
  'worker-crashed',
  'integrity',
  'download-failed',
  'bad-manifest',
  'bad-reply',
  'unavailable',
  'internal',
])
/** A closed union of error codes shared by every package. */
export type ErrorCode = z.infer<typeof ErrorCodeSchema>

/** The plain-data form of an error, as it travels between processes. */
export interface ErrorData {
  readonly code: ErrorCode
  readonly message: string
}

/** Cohort's error: a code from a closed union and a message that says what to do. */
export class CohortError extends Error implements ErrorData {
  override readonly name = 'CohortError'
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message)
  }

  /** Rebuilds an error received as plain data (never use instanceof across a boundary). */
  static from(data: ErrorData): CohortError {
    return new CohortError(data.code, data.message)
  }

  /** The plain-data form, for sending. */
  toData(): ErrorData {
    return { code: this.code, message: this.message }
  }
}

/**
 * Turns anything thrown into a CohortError, keeping the code of any error that carries a wire
 * code (a CohortError, or another package's error such as the runtime's, whose codes are wire
 * codes too: no instanceof, which fails across bundles and realms).
 */
export function toCohortError(error: unknown, fallback: ErrorCode = 'internal'): CohortError {
  if (error instanceof CohortError) return error
  const message = error instanceof Error ? error.message : String(error)
  const code = ErrorCodeSchema.safeParse((error as { code?: unknown } | null)?.code)
  return new CohortError(code.success ? code.data : fallback, message)
}
