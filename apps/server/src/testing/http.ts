import { once } from 'node:events'
import { connect } from 'node:net'
import { expect } from 'vitest'

/** Checks the headers every response carries, whatever it is (security-headers.ts). */
export function expectSecured(response: Response): void {
  expect(response.headers.get('cross-origin-opener-policy')).toBe('same-origin')
  expect(response.headers.get('cross-origin-embedder-policy')).toBe('require-corp')
  expect(response.headers.get('cross-origin-resource-policy')).toBe('same-origin')
  const csp = response.headers.get('content-security-policy') ?? ''
  for (const directive of [
    "script-src 'self' 'wasm-unsafe-eval'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
  ]) {
    expect(csp).toContain(directive)
  }
  expect(response.headers.get('x-frame-options')).toBe('DENY')
  expect(response.headers.get('x-content-type-options')).toBe('nosniff')
  expect(response.headers.get('referrer-policy')).toBe('no-referrer')
}

/**
 * Sends `bytes` as they are (no client library to tidy them up) on a new connection to `port`
 * and returns everything the server answers until it closes the connection.
 */
export async function rawExchange(port: number, bytes: string | Buffer): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  let reply = ''
  socket.on('data', (chunk: Buffer) => {
    reply += chunk.toString('latin1')
  })
  // A server that answers before reading everything may reset: what it said still counts.
  socket.on('error', () => undefined)
  const closed = new Promise((resolve) => socket.once('close', resolve))
  if (bytes.length > 0) socket.write(bytes)
  await closed
  return reply
}
