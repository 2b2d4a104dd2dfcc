/**
 * `value` as the Origin header a browser sends for it (lower case, default port dropped), or an
 * error that says what an origin looks like. A path, query, fragment or credentials mean the
 * value is a URL rather than an origin, and a browser never sends one of those as its Origin.
 */
export function normalizeOrigin(value: string): string {
  const problem = () =>
    new Error(`${JSON.stringify(value)} is not an origin; write it like https://example.org:8443`)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw problem()
  }
  const bare =
    url.username === '' &&
    url.password === '' &&
    url.pathname === '/' &&
    url.search === '' &&
    url.hash === '' &&
    // new URL() drops an empty `?` or `#`; the value itself must not carry them either.
    !/[?#]/.test(value)
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || !bare) throw problem()
  return url.origin
}

/**
 * The origins of `--allow-origin`, given once or more, each a comma-separated list; undefined
 * gives none. Throws on the first value that is not an origin.
 */
export function parseAllowedOrigins(value: unknown): string[] {
  if (value === undefined) return []
  const values = Array.isArray(value) ? value : [value]
  const origins = values.flatMap((entry) => {
    if (typeof entry !== 'string') throw new Error('an origin is missing, like https://example.org')
    return entry.split(',').map((part) => part.trim())
  })
  return [...new Set(origins.filter((origin) => origin !== '').map(normalizeOrigin))]
}
