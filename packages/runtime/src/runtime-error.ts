/** Every way a runtime call can fail: a closed union, so callers can switch over it exhaustively. */
export type RuntimeErrorCode =
  /** The call did not finish within its deadline. */
  | 'timeout'
  /** The caller aborted the call. */
  | 'cancelled'
  /** The worker died (or stopped answering) while the call was pending; it has been restarted. */
  | 'worker-crashed'
  /** Model bytes do not match the manifest's sha256 (or size); they were refused and evicted. */
  | 'integrity'
  /** The manifest or a model could not be downloaded. */
  | 'download-failed'
  /** The manifest is not valid JSON or does not match the schema. */
  | 'bad-manifest'
  /** No session with that model id is loaded. */
  | 'not-loaded'
  /** Inputs do not match the model's inputs (names, dtype, element count). */
  | 'bad-input'
  /** onnxruntime failed to create a session or to run it. */
  | 'model-failed'
  /** The worker answered with something that is not a valid reply. */
  | 'bad-reply'
  /** The environment lacks what was asked for (e.g. WebGPU). */
  | 'unavailable'
  /** Anything else: a bug. */
  | 'internal'

/** Every runtime code; each is also a wire code (`ErrorCode`), so it reaches a remote requester. */
export const RUNTIME_ERROR_CODES: readonly RuntimeErrorCode[] = [
  'timeout',
  'cancelled',
  'worker-crashed',
  'integrity',
  'download-failed',
  'bad-manifest',
  'not-loaded',
  'bad-input',
  'model-failed',
  'bad-reply',
  'unavailable',
  'internal',
]
const CODES: ReadonlySet<string> = new Set(RUNTIME_ERROR_CODES)

/** True when `value` is one of the runtime's error codes. */
export function isRuntimeErrorCode(value: unknown): value is RuntimeErrorCode {
  return typeof value === 'string' && CODES.has(value)
}

/** The plain-data form of a runtime error, as it crosses the worker boundary. */
export interface RuntimeErrorData {
  readonly code: RuntimeErrorCode
  readonly message: string
}

/** The runtime package's error: a code from a closed union and a message that says what to do. */
export class RuntimeError extends Error implements RuntimeErrorData {
  override readonly name = 'RuntimeError'
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
  ) {
    super(message)
  }

  /** Rebuilds an error received as plain data (never use instanceof across a boundary). */
  static from(data: RuntimeErrorData): RuntimeError {
    return new RuntimeError(data.code, data.message)
  }

  /** The plain-data form, for posting. */
  toData(): RuntimeErrorData {
    return { code: this.code, message: this.message }
  }
}

/** Turns anything thrown into a RuntimeError, keeping a RuntimeError's code. */
export function toRuntimeError(
  error: unknown,
  fallback: RuntimeErrorCode = 'internal',
): RuntimeError {
  if (error instanceof RuntimeError) return error
  const message = error instanceof Error ? error.message : String(error)
  return new RuntimeError(fallback, message)
}
