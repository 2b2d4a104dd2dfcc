/**
 * The headers every response carries, written once: static files, errors, health, the app's
 * index, redirects and engine.io's polling responses alike. A header that only some responses
 * carry is a header an attacker looks for the response without.
 */

/** What the policy depends on: the page's scheme and host (for the WebSocket source) and --dev. */
export interface SecurityHeaderOptions {
  /** The request's validated Host (host-header.ts), for an explicit WebSocket source. */
  readonly host?: string | null | undefined
  /** Whether the page came over TLS, so the WebSocket source is wss: rather than ws:. */
  readonly secure?: boolean | undefined
  /** Vite's dev client injects `<style>` elements for imported CSS: allowed only with --dev. */
  readonly dev?: boolean | undefined
}

/**
 * The Content-Security-Policy. Scripts, workers and connections are our own origin only:
 * onnxruntime-web compiles its WASM (`'wasm-unsafe-eval'`, not `'unsafe-eval'`), runs its threads
 * and our runtime in same-origin module workers, and socket.io talks to this server. The QR code
 * is a data: image. Style attributes are allowed (the app's `h()` helper sets a few, e.g. bar
 * widths) but style elements are not, except under Vite's dev client. Nothing may frame the app,
 * embed plugins, rebase relative URLs or post forms elsewhere.
 */
export function contentSecurityPolicy(options: SecurityHeaderOptions = {}): string {
  // CSP3 lets 'self' match same-host ws:/wss:, but Safari before 16 does not: name it as well.
  const socket = options.host ? ` ${options.secure ? 'wss' : 'ws'}://${options.host}` : ''
  const directives = [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self'",
    `connect-src 'self'${socket}`,
    "img-src 'self' data:",
    options.dev ? "style-src 'self' 'unsafe-inline'" : "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ]
  return directives.join('; ')
}

/** The full header set for one response. */
export function securityHeaders(options: SecurityHeaderOptions = {}): Record<string, string> {
  return {
    // Threaded WASM needs a cross-origin isolated page (COOP + COEP); CORP keeps our files from
    // being embedded by other origins under their own COEP.
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Content-Security-Policy': contentSecurityPolicy(options),
    // frame-ancestors says the same to current browsers; this is for those that predate it.
    'X-Frame-Options': 'DENY',
    // Every type we send is deliberate: no browser may guess another (and run a model as script).
    'X-Content-Type-Options': 'nosniff',
    // Page URLs carry room codes (/r/<code>, /host/<code>): a link or request to anywhere must not
    // hand the code on in a Referer. Our own requests need no Referer either.
    'Referrer-Policy': 'no-referrer',
  }
}

/** The header set for responses built without a request at hand (engine.io's polling). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze(securityHeaders())
