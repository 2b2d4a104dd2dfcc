/**
 * Sent on every response: threaded WASM needs a cross-origin isolated page (COOP + COEP), and
 * CORP keeps our files from being embedded by other origins under their own COEP.
 */
export const isolationHeaders: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
}
