/** What a request's Range header asks of a representation, judged by RFC 9110 §14. */
export type ByteRange =
  /** No Range, or one in a unit other than bytes (which a server ignores): send all of it. */
  | { readonly kind: 'whole' }
  /** One satisfiable range, both ends inclusive and inside the representation. */
  | { readonly kind: 'part'; readonly start: number; readonly end: number }
  /** Malformed, several ranges, or none inside the representation: 416. */
  | { readonly kind: 'unsatisfiable' }

/** Longer Range headers are refused unread: one range of two 16-digit offsets is far shorter. */
const MAX_RANGE_HEADER_LENGTH = 100

const WHOLE: ByteRange = { kind: 'whole' }
const UNSATISFIABLE: ByteRange = { kind: 'unsatisfiable' }

/**
 * The byte range `header` asks of `size` bytes. Only single ranges are served: several (which
 * would need a multipart answer nobody here asks for) are rejected like malformed ones, which
 * §15.5.17 allows. Never throws, whatever the header.
 */
export function byteRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return WHOLE
  if (header.length > MAX_RANGE_HEADER_LENGTH) return UNSATISFIABLE
  const equals = header.indexOf('=')
  if (equals < 0) return UNSATISFIABLE
  const unit = header.slice(0, equals).trim().toLowerCase()
  if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(unit)) return UNSATISFIABLE
  // §14.2: a range unit the server does not know is ignored, not an error.
  if (unit !== 'bytes') return WHOLE
  // `1#range-spec` tolerates empty list elements (`bytes=0-1,`), so they do not count.
  const specs = header
    .slice(equals + 1)
    .split(',')
    .map((spec) => spec.trim())
    .filter((spec) => spec !== '')
  if (specs.length !== 1 || size <= 0) return UNSATISFIABLE
  const spec = specs[0] as string

  const suffix = /^-(\d+)$/.exec(spec)
  if (suffix) {
    const length = Number(suffix[1])
    // `bytes=-0` asks for the last zero bytes: nothing to send.
    return length === 0
      ? UNSATISFIABLE
      : { kind: 'part', start: Math.max(0, size - length), end: size - 1 }
  }
  const span = /^(\d+)-(\d*)$/.exec(spec)
  if (!span) return UNSATISFIABLE
  const start = Number(span[1])
  const last = span[2] === '' ? size - 1 : Number(span[2])
  // `bytes=5-2` is invalid (§14.1.1), one starting past the end unsatisfiable; both are a 416.
  if (last < start || start >= size) return UNSATISFIABLE
  return { kind: 'part', start, end: Math.min(last, size - 1) }
}
