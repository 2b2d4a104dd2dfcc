import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

/** A certificate and its private key, PEM-encoded. */
export interface TlsCredentials {
  readonly cert: string
  readonly key: string
}

/** File names of the generated certificate in the state dir. */
export const CERT_FILE = 'tls-cert.pem'
/** File name of the generated certificate's private key in the state dir. */
export const KEY_FILE = 'tls-key.pem'

/** Regenerate a month before expiry, so a demo never starts with a certificate about to lapse. */
const RENEW_BEFORE_MS = 30 * 24 * 3600_000

/** Reads a certificate and key given on the command line. */
export function readCredentials(certFile: string, keyFile: string): TlsCredentials {
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }
}

/**
 * A self-signed certificate for `localhost` and `addresses`, kept in the state dir and reused
 * while it covers them (each new certificate means another browser warning to click through).
 * Phones on a LAN need HTTPS for a secure context: threads, WebGPU, wake lock.
 */
export function loadOrCreateSelfSigned(
  stateDir: string,
  addresses: readonly string[],
  now: number = Date.now(),
): TlsCredentials & { created: boolean } {
  const certFile = join(stateDir, CERT_FILE)
  const keyFile = join(stateDir, KEY_FILE)
  const existing = tryRead(certFile, keyFile)
  if (existing && covers(existing.cert, addresses, now)) return { ...existing, created: false }

  mkdirSync(stateDir, { recursive: true, mode: 0o700 })
  rmSync(keyFile, { force: true })
  const altNames = ['DNS:localhost', 'IP:127.0.0.1', ...addresses.map((a) => `IP:${a}`)]
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '397',
        '-subj',
        '/CN=Cohort (self-signed)',
        '-addext',
        `subjectAltName=${altNames.join(',')}`,
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      { stdio: 'pipe' },
    )
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error)
    throw new Error(
      `could not create a self-signed certificate with openssl (${detail}); pass --cert and --key`,
    )
  }
  const created = tryRead(certFile, keyFile)
  if (!created) throw new Error(`openssl did not write ${certFile}`)
  chmodSync(keyFile, 0o600)
  return { ...created, created: true }
}

function covers(pem: string, addresses: readonly string[], now: number): boolean {
  try {
    const cert = new X509Certificate(pem)
    if (Date.parse(cert.validTo) - now < RENEW_BEFORE_MS) return false
    return addresses.every((address) => cert.checkIP(address) !== undefined)
  } catch {
    return false
  }
}

function tryRead(certFile: string, keyFile: string): TlsCredentials | null {
  try {
    return readCredentials(certFile, keyFile)
  } catch {
    return null
  }
}
