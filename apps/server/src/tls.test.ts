import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { get } from 'node:https'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROTOCOL_VERSION, type ServerReply, SIGNALING_EVENT } from '@cohort/protocol'
import { io } from 'socket.io-client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startServer } from './server.ts'
import { rawExchange } from './testing/http.ts'
import { KEY_FILE, loadOrCreateSelfSigned } from './tls.ts'

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cohort-tls-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe.skipIf(!hasOpenssl)('self-signed certificates', () => {
  it('creates one for localhost and the LAN addresses, then reuses it', () => {
    const first = loadOrCreateSelfSigned(dir, ['192.168.1.23'])
    expect(first.created).toBe(true)
    const cert = new X509Certificate(first.cert)
    expect(cert.checkHost('localhost')).toBe('localhost')
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1')
    expect(cert.checkIP('192.168.1.23')).toBe('192.168.1.23')
    expect(statSync(join(dir, KEY_FILE)).mode & 0o777).toBe(0o600)

    const again = loadOrCreateSelfSigned(dir, ['192.168.1.23'])
    expect(again.created).toBe(false)
    expect(again.cert).toBe(first.cert)
  })

  it('replaces it when the LAN address changes or expiry nears', () => {
    const first = loadOrCreateSelfSigned(dir, ['192.168.1.23'])
    const moved = loadOrCreateSelfSigned(dir, ['10.0.0.7'])
    expect(moved.created).toBe(true)
    expect(moved.cert).not.toBe(first.cert)
    const inAYear = Date.now() + 380 * 24 * 3600_000
    expect(loadOrCreateSelfSigned(dir, ['10.0.0.7'], inAYear).created).toBe(true)
  })

  it('serves pages and signaling over HTTPS', async () => {
    const tls = loadOrCreateSelfSigned(dir, [])
    const server = await startServer({
      port: 0,
      host: '127.0.0.1',
      tls,
      staticDir: dir,
      stateDir: dir,
      log: () => undefined,
    })
    try {
      expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
      const body = await new Promise<string>((resolve, reject) => {
        get(`${server.url}/healthz`, { ca: tls.cert }, (res) => {
          let text = ''
          res.on('data', (chunk: Buffer) => {
            text += chunk.toString()
          })
          res.on('end', () => resolve(text))
        }).on('error', reject)
      })
      expect(JSON.parse(body)).toMatchObject({ ok: true })

      const socket = io(server.url, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        ca: tls.cert,
      })
      try {
        const reply = (await socket.timeout(5_000).emitWithAck(SIGNALING_EVENT, {
          type: 'create-room',
          protocolVersion: PROTOCOL_VERSION,
        })) as ServerReply
        expect(reply.type).toBe('room-created')
      } finally {
        socket.close()
      }
    } finally {
      await server.close()
    }
  })

  it('redirects plain http on its port to https, and closes what it holds on close()', async () => {
    const tls = loadOrCreateSelfSigned(dir, [])
    const server = await startServer({
      port: 0,
      host: '127.0.0.1',
      tls,
      staticDir: dir,
      stateDir: dir,
      log: () => undefined,
    })
    let closed = false
    try {
      const plain = await fetch(`http://127.0.0.1:${server.port}/r/ABC?task=digits`, {
        redirect: 'manual',
      })
      expect(plain.status).toBe(307)
      expect(plain.headers.get('location')).toBe(`${server.url}/r/ABC?task=digits`)
      expect(plain.headers.get('x-frame-options')).toBe('DENY')
      expect(await rawExchange(server.port, Buffer.from([1, 2, 3, 13, 10, 13, 10]))).toMatch(
        /^HTTP\/1\.1 400 /,
      )

      // A silent connection and a half-sent plain request do not hold close() up.
      const held = await Promise.all(
        ['', 'GET / HTTP/1.1\r\n'].map(async (bytes) => {
          const socket = connect(server.port, '127.0.0.1')
          await once(socket, 'connect')
          if (bytes) socket.write(bytes)
          socket.resume()
          // Cut off is what is asked for here: a reset counts as closed (once() would reject).
          socket.on('error', () => undefined)
          const closed = new Promise((resolve) => socket.once('close', resolve))
          // Wrapped: a promise returned as it is would be awaited here.
          return { closed }
        }),
      )
      await server.close()
      closed = true
      await Promise.all(held.map((socket) => socket.closed))
    } finally {
      if (!closed) await server.close()
    }
  })
})
