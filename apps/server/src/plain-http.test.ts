import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { createServer, get, type Server } from 'node:https'
import { type AddressInfo, connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { acceptPlainHttp, type PlainHttp } from './plain-http.ts'
import { rawExchange } from './testing/http.ts'
import { loadOrCreateSelfSigned, type TlsCredentials } from './tls.ts'

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

const HEADERS = { 'X-Frame-Options': 'DENY' }

let dir: string
let tls: TlsCredentials
let server: Server
let plain: PlainHttp
let port: number

beforeAll(async () => {
  if (!hasOpenssl) return
  dir = mkdtempSync(join(tmpdir(), 'cohort-plain-'))
  tls = loadOrCreateSelfSigned(dir, [])
  server = createServer({ cert: tls.cert, key: tls.key }, (req, res) =>
    res.end(`secure ${req.url}`),
  )
  // Short enough for a test to watch them pass.
  plain = acceptPlainHttp(server, () => HEADERS, { firstByteMs: 300, plainLifetimeMs: 600 })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  if (!hasOpenssl) return
  server.closeAllConnections()
  plain.closeAll()
  server.close()
  await once(server, 'close')
  rmSync(dir, { recursive: true, force: true })
})

const exchange = (bytes: string | Buffer) => rawExchange(port, bytes)

function secureGet(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, ca: tls.cert }, (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString()
      })
      res.on('end', () => resolve(text))
    }).on('error', reject)
  })
}

describe.skipIf(!hasOpenssl)('plain http on an https port', () => {
  it('redirects plain http to the same URL over https', async () => {
    const response = await new Promise<{
      status: number | undefined
      headers: Record<string, unknown>
    }>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/r/ABC?task=digits' }, (res) => {
        res.resume()
        resolve({ status: res.statusCode, headers: res.headers })
      })
        .on('error', reject)
        .end()
    })
    expect(response.status).toBe(307)
    expect(response.headers.location).toBe(`https://127.0.0.1:${port}/r/ABC?task=digits`)
    expect(response.headers['cache-control']).toBe('no-store')
    expect(response.headers['x-frame-options']).toBe('DENY')
    expect(response.headers.connection).toBe('close')
    expect(await secureGet('/still')).toBe('secure /still')
  })

  it('answers a missing or malformed Host with a 400', async () => {
    expect(await exchange('GET / HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /)
    for (const host of ['evil.example/x', 'a@evil.example', 'a b', 'evil.example:99999']) {
      const reply = await exchange(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`)
      expect(reply, host).toMatch(/^HTTP\/1\.1 400 /)
      expect(reply, host).not.toMatch(/location:/i)
    }
  })

  it('keeps only the path of an absolute-form target', async () => {
    const reply = await exchange('GET http://evil.example/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    expect(reply).toMatch(/^HTTP\/1\.1 307 /)
    expect(reply).toMatch(/\r\nLocation: https:\/\/127\.0\.0\.1\/\r\n/)
  })

  it('answers garbage with a 400 and goes on serving', async () => {
    expect(await exchange(Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 13, 10]))).toMatch(
      /^HTTP\/1\.1 400 /,
    )
    expect(await exchange('\x15\x03\x03\x00\x02\x02\x28')).toMatch(/^HTTP\/1\.1 400 /)
    expect(await secureGet('/after-garbage')).toBe('secure /after-garbage')
  })

  it('closes connections that never speak or never finish', async () => {
    expect(await exchange('')).toBe('')
    // Half a request, then silence: the plain side's lifetime ends it.
    expect(await exchange('GET / HTTP/1.1\r\n')).toBe('')
  })

  it('survives a reset before the first byte', async () => {
    const socket = connect(port, '127.0.0.1')
    await once(socket, 'connect')
    socket.resetAndDestroy()
    await once(socket, 'close')
    expect(await secureGet('/after-reset')).toBe('secure /after-reset')
  })

  it('closes every connection it holds at once on closeAll', async () => {
    const other = createServer({ cert: tls.cert, key: tls.key })
    const held = acceptPlainHttp(other, () => ({}), {
      firstByteMs: 60_000,
      plainLifetimeMs: 60_000,
    })
    other.listen(0, '127.0.0.1')
    await once(other, 'listening')
    const otherPort = (other.address() as AddressInfo).port
    const open = async (bytes: string): Promise<Socket> => {
      const socket = connect(otherPort, '127.0.0.1')
      await once(socket, 'connect')
      if (bytes) socket.write(bytes)
      // Reading, so that the server's close becomes this socket's close; a reset counts too.
      socket.resume()
      socket.on('error', () => undefined)
      return socket
    }
    const silent = await open('')
    const halfSent = await open('GET / HTTP/1.1\r\n')
    // Until the server has accepted both (a client's connect can come first).
    const accepted = () =>
      new Promise<number>((resolve, reject) =>
        other.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      )
    while ((await accepted()) < 2) await new Promise((resolve) => setTimeout(resolve, 10))
    const closing = (socket: Socket) => new Promise((resolve) => socket.once('close', resolve))
    const closed = Promise.all([closing(silent), closing(halfSent), once(other, 'close')])
    held.closeAll()
    other.close()
    await closed
  })
})
