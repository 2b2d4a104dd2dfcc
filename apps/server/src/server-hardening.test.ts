import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROTOCOL_VERSION } from '@cohort/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningServer, startServer } from './server.ts'
import { createRoom, TestClient } from './testing/clients.ts'
import { expectSecured, rawExchange } from './testing/http.ts'

// What an attacker sends that no browser would: malformed ranges, conditions and requests.
let dir: string
let server: RunningServer
const DIGITS = '0123456789'

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cohort-hardening-'))
  mkdirSync(join(dir, 'web', 'models'), { recursive: true })
  writeFileSync(join(dir, 'web', 'index.html'), '<!doctype html><title>Cohort</title>')
  writeFileSync(join(dir, 'web', 'models', 'digits.onnx'), DIGITS)
  server = await startServer({
    port: 0,
    host: '127.0.0.1',
    staticDir: join(dir, 'web'),
    stateDir: join(dir, 'state'),
    log: () => undefined,
  })
})

afterAll(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  fetch(`${server.url}${path}`, { method, headers })
const FILE = '/models/digits.onnx'

describe('Range', () => {
  it.each([
    ['bytes=0-3', '0123', 'bytes 0-3/10'],
    ['bytes=5-', '56789', 'bytes 5-9/10'],
    ['bytes=-3', '789', 'bytes 7-9/10'],
    ['bytes=8-100', '89', 'bytes 8-9/10'],
    ['bytes=1-1', '1', 'bytes 1-1/10'],
  ])('serves %s as a part', async (range, body, contentRange) => {
    const response = await get(FILE, { range })
    expect(response.status).toBe(206)
    expect(response.headers.get('content-range')).toBe(contentRange)
    expect(response.headers.get('content-type')).toBe('application/octet-stream')
    expectSecured(response)
    expect(await response.text()).toBe(body)
  })

  it.each([
    'bytes=5-2',
    'bytes=abc',
    'bytes=0-1,3-4',
    'bytes=-0',
    'bytes=10-',
    'bytes=99999999999999999999-',
    'bytes=1-2-3',
    'bytes',
  ])('answers %s with a 416, not a dropped connection', async (range) => {
    const response = await get(FILE, { range })
    expect(response.status).toBe(416)
    expect(response.headers.get('content-range')).toBe('bytes */10')
    expectSecured(response)
    expect(await response.text()).toBe('')
  })

  it.each([
    ['a first byte, which sirv cannot be told', { range: 'bytes=0-0' }],
    ['another unit', { range: 'items=0-1' }],
    ['a stale If-Range date', { range: 'bytes=0-1', 'if-range': 'Thu, 01 Jan 1970 00:00:00 GMT' }],
    ['a weak ETag in If-Range', { range: 'bytes=0-1', 'if-range': 'W/"10-0"' }],
  ])('serves the whole file for %s', async (_what, headers) => {
    const response = await get(FILE, headers)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-range')).toBeNull()
    expect(await response.text()).toBe(DIGITS)
  })

  it('keeps a Range whose If-Range is the current Last-Modified', async () => {
    const lastModified = statSync(join(dir, 'web', FILE)).mtime.toUTCString()
    const response = await get(FILE, { range: 'bytes=2-3', 'if-range': lastModified })
    expect(response.status).toBe(206)
    expect(await response.text()).toBe('23')
  })

  it('ignores a Range on HEAD and refuses other methods', async () => {
    const head = await get(FILE, { range: 'bytes=5-2' }, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe('10')
    expect((await get(FILE, { range: 'bytes=5-2' }, 'POST')).status).toBe(405)
  })
})

describe('conditional requests', () => {
  it('revalidates before it judges a Range', async () => {
    const etag = (await get(FILE)).headers.get('etag') ?? ''
    const response = await get(FILE, { 'if-none-match': etag, range: 'bytes=5-2' })
    expect(response.status).toBe(304)
    expectSecured(response)
  })

  it.each([
    ['if-none-match', 'garbage'],
    ['if-none-match', '"a", W/"b", *'.repeat(100)],
    ['if-modified-since', 'not a date'],
    ['if-match', '"nothing"'],
    ['if-unmodified-since', 'Thu, 01 Jan 1970 00:00:00 GMT'],
  ])('serves the file despite a nonsense %s', async (name, value) => {
    const response = await get(FILE, { [name]: value })
    expect(response.status).toBe(200)
    expect(await response.text()).toBe(DIGITS)
  })
})

describe('malformed requests', () => {
  const raw = (bytes: string | Buffer) => rawExchange(server.port, bytes)

  it('answers garbage and oversized headers with a 4xx and a closed connection', async () => {
    expect(await raw(Buffer.from([0x16, 3, 1, 0, 0xff, 13, 10, 13, 10]))).toMatch(
      /^HTTP\/1\.1 400 /,
    )
    expect(await raw('GET / HTTP/9.9\r\n\r\n')).toMatch(/^HTTP\/1\.1 4\d\d /)
    const huge = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`
    expect(await raw(huge)).toMatch(/^HTTP\/1\.1 431 /)
    expect((await get('/healthz')).status).toBe(200)
  })

  it.each([
    '/%E0%A4%A',
    '/%',
    '/models/%2e%2e%2f%2e%2e%2fpackage.json',
    '/..%2f..%2fpackage.json',
    '/%00',
  ])('answers the odd URL %s with a 404', async (path) => {
    const reply = await raw(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    expect(reply).toMatch(/^HTTP\/1\.1 404 /)
  })

  it('refuses methods it does not serve, health included', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const response = await get('/healthz', {}, method)
      expect(response.status, method).toBe(405)
      expect(response.headers.get('allow')).toBe('GET, HEAD')
      expectSecured(response)
    }
    const trace = await raw('TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    expect(trace).toMatch(/^HTTP\/1\.1 405 /)
  })

  it('names only a well-formed Host as the WebSocket source of its policy', async () => {
    const csp = (await get('/')).headers.get('content-security-policy')
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${server.port};`)
    const odd = await raw('GET / HTTP/1.1\r\nHost: x; script-src *\r\nConnection: close\r\n\r\n')
    expect(odd).toMatch(/^HTTP\/1\.1 200 /)
    expect(odd).toMatch(/\r\nContent-Security-Policy: [^\r]*connect-src 'self';/i)
    expect(odd).not.toMatch(/script-src \*/)
  })
})

describe('headers on every response', () => {
  it.each([
    ['the app', '/', 200],
    ['a file', FILE, 200],
    ['health', '/healthz', 200],
    ['a missing file', '/missing.js', 404],
    ['a hidden file', '/.secret', 404],
    ['socket.io polling', '/socket.io/?EIO=4&transport=polling', 200],
    ['a bad socket.io request', '/socket.io/?EIO=3&transport=polling', 400],
  ])('secures %s', async (_what, path, status) => {
    const response = await get(path)
    expect(response.status).toBe(status)
    expectSecured(response)
  })
})

describe('health', () => {
  const liveness = { ok: true, uptimeS: expect.any(Number), protocolVersion: PROTOCOL_VERSION }

  it('tells a stranger only that it is alive', async () => {
    // A reverse proxy on this machine forwarding someone: loopback, but not the operator.
    const response = await get('/healthz', { 'x-forwarded-for': '203.0.113.9' })
    expect(await response.json()).toEqual(liveness)
  })

  it('tells a host with its key where phones can reach the server', async () => {
    const client = await TestClient.connect(server.url)
    try {
      const { room, hostKey } = await createRoom(client)
      const headers = {
        'x-forwarded-for': '203.0.113.9',
        'x-cohort-host-key': `${room}:${hostKey}`,
      }
      expect(await (await get('/healthz', headers)).json()).toEqual({
        ...liveness,
        joinOrigins: [],
      })
      const forged = { ...headers, 'x-cohort-host-key': `${room}:${hostKey.slice(1)}A` }
      expect(await (await get('/healthz', forged)).json()).toEqual(liveness)
    } finally {
      client.close()
    }
  })
})

describe('allowed origins', () => {
  it('refuses to start with one that is not an origin', async () => {
    const start = startServer({ port: 0, host: '127.0.0.1', allowedOrigins: ['example.org'] })
    await expect(start).rejects.toThrow(/"example.org" is not an origin/)
  })
})
