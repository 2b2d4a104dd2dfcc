/**
 * Whether a browser page from `origin` may open a socket: pages of this server (the origin's host
 * is the request's Host) and the origins the operator allowed. Without this, any web page a
 * member visits could join rooms in their name from their network.
 */
export function isAllowedOrigin(
  origin: string,
  host: string | undefined,
  allowed: ReadonlySet<string>,
): boolean {
  if (allowed.has(origin)) return true
  if (host === undefined) return false
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false
  return url.origin === origin && url.host === hostOf(host)
}

/** The Host header as URL.host spells it (lower case, default ports dropped). */
function hostOf(header: string): string {
  try {
    return new URL(`http://${header}`).host
  } catch {
    return ''
  }
}
