/** Longest Host accepted: a DNS name is at most 253 characters, plus a port. */
const MAX_HOST_LENGTH = 260

/** A DNS name or IPv4 address, or a bracketed IPv6 address, then an optional port. */
const HOST = /^(?:\[[0-9a-f:.]+\]|[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?)(?::\d{1,5})?$/i

/**
 * The Host header when it is a plain `host[:port]`, lower-cased; null for anything else. It ends
 * up in a redirect's Location and in the CSP, so a Host like `evil.com/x`, `a@b`, `a;b` or
 * `a b` must never get that far.
 */
export function validHost(header: string | undefined): string | null {
  if (header === undefined || header.length > MAX_HOST_LENGTH || !HOST.test(header)) return null
  const host = header.toLowerCase()
  try {
    // The URL parser judges the rest as a browser would (IPv6 syntax, port range).
    return new URL(`http://${host}`).hostname === '' ? null : host
  } catch {
    return null
  }
}
