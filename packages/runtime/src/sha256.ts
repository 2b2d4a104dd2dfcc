import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'

/** Which implementation hashes model bytes. */
export type HashMode = 'webcrypto' | 'javascript'

/**
 * WebCrypto exists only in secure contexts: http://localhost is one, but a phone on
 * http://192.168.x.x is not, and must still verify what it downloads.
 */
export function hashMode(): HashMode {
  return globalThis.isSecureContext !== false && globalThis.crypto?.subtle !== undefined
    ? 'webcrypto'
    : 'javascript'
}

/** Lowercase hex SHA-256 with WebCrypto when available, else with @noble/hashes (audited, pure JS). */
export async function sha256Digest(
  bytes: Uint8Array,
  mode: HashMode = hashMode(),
): Promise<string> {
  if (mode === 'javascript') return bytesToHex(sha256(bytes))
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)
  return bytesToHex(new Uint8Array(digest))
}
