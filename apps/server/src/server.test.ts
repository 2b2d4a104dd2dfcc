import { once } from 'node:events'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROTOCOL_VERSION } from '@cohort/protocol'
import { io } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningServer, startServer } from './server.ts'
import { expectSecured } from './testing/http.ts'

const INDEX = '<!doctype html><title>Cohort</title>'

let dir: string
let server: RunningServer
const logs: string[] = []

function file(path: string, content: string): void {
  const full = join(dir, 'web', path)
  mkdirSync(join(full, '..'), { recursive: true })
  writeFileSync(full, content)
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cohort-server-'))
  file('index.html', INDEX)
  file('assets/index-3f2a9c.js', 'console.log(1)')
  file('assets/ort-wasm-simd-threaded.jsep-1a2b.wasm', '\0asm')
  file('assets/worker-9e8d.mjs', 'export {}')
  file('models/fashion/manifest.json', '{"task":"fashion"}')
  file('models/fashion/teacher.onnx', 'onnx bytes')
  file('.secret', 'dotfiles are never served')
  server = await startServer({
    port: 0,
    host: '127.0.0.1',
    staticDir: join(dir, 'web'),
    stateDir: join(dir, 'state'),
    log: (line) => logs.push(line),
  })
})

afterAll(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init)

describe('http', () => {
  it('reports health', async () => {
    const response = await get('/healthz')
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expectSecured(response)
    expect(await response.json()).toEqual({
      ok: true,
      rooms: 0,
      members: 0,
      uptimeS: expect.any(Number),
      protocolVersion: PROTOCOL_VERSION,
      // Bound to loopback: no LAN origin to offer phones.
      joinOrigins: [],
      memory: {
        rssBytes: expect.any(Number),
        heapUsedBytes: expect.any(Number),
        heapTotalBytes: expect.any(Number),
        externalBytes: expect.any(Number),
      },
    })
  })

  it.each(['/', '/r/0123456789ABC', '/host', '/host/0123456789ABC', '/r/0123456789ABC/'])(
    'serves the app for the route %s',
    async (path) => {
      const response = await get(path)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^text\/html/)
      expect(response.headers.get('cache-control')).toBe('no-cache')
      expectSecured(response)
      expect(await response.text()).toBe(INDEX)
    },
  )

  it.each([
    ['/assets/index-3f2a9c.js', 'text/javascript', 'public, max-age=31536000, immutable'],
    ['/assets/worker-9e8d.mjs', 'text/javascript', 'public, max-age=31536000, immutable'],
    [
      '/assets/ort-wasm-simd-threaded.jsep-1a2b.wasm',
      'application/wasm',
      'public, max-age=31536000, immutable',
    ],
    ['/models/fashion/manifest.json', 'application/json', 'no-cache'],
    ['/models/fashion/teacher.onnx', 'application/octet-stream', 'no-cache'],
  ])('serves %s as %s with cache policy %s', async (path, type, cache) => {
    const response = await get(path)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')?.split(';')[0]).toBe(type)
    expect(response.headers.get('cache-control')).toBe(cache)
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expectSecured(response)
  })

  it('revalidates with an ETag', async () => {
    const first = await get('/models/fashion/manifest.json')
    const etag = first.headers.get('etag')
    expect(etag).toBeTruthy()
    const again = await get('/models/fashion/manifest.json', {
      headers: { 'if-none-match': etag! },
    })
    expect(again.status).toBe(304)
    expectSecured(again)
  })

  it.each([
    '/missing.js',
    '/models/fashion/missing.onnx',
    '/r/0123456789ABC/extra',
    '/.secret',
    '/%2esecret',
    '/models/%2E%2E/.secret',
    '/../package.json',
    '/index',
  ])('answers %s with a 404, not the app', async (path) => {
    const response = await get(path)
    expect(response.status).toBe(404)
    expectSecured(response)
    expect(await response.text()).not.toContain('<title>')
  })

  it('serves files that appear after it started (a rebuild, new models)', async () => {
    expect((await get('/models/fashion/student-k2-0.onnx')).status).toBe(404)
    file('models/fashion/student-k2-0.onnx', 'new model')
    const response = await get('/models/fashion/student-k2-0.onnx')
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('new model')
  })

  it('survives a file that cannot be read after it was found', async () => {
    // A unix socket passes sirv's lookup and then fails to open, like a file deleted mid-rebuild.
    const unreadable = createNetServer()
    await new Promise<void>((resolve) =>
      unreadable.listen(join(dir, 'web', 'models', 'gone.onnx'), resolve),
    )
    try {
      await expect(get('/models/gone.onnx').then((r) => r.text())).rejects.toThrow()
      expect(logs.some((line) => line.startsWith('failed to read /models/gone.onnx'))).toBe(true)
      expect((await get('/healthz')).status).toBe(200)
    } finally {
      unreadable.close()
    }
  })

  it('serves only GET and HEAD', async () => {
    const post = await get('/', { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    const head = await get('/', { method: 'HEAD' })
    expect(head.status).toBe(200)
  })

  it('closes WebSocket upgrades that are not for socket.io', async () => {
    const raw = connect(server.port, '127.0.0.1')
    await once(raw, 'connect')
    const closed = once(raw, 'close')
    raw.write(
      'GET /not-socket-io HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    )
    raw.resume()
    await closed
  })

  it('isolates socket.io polling responses too', async () => {
    const response = await get('/socket.io/?EIO=4&transport=polling')
    expect(response.status).toBe(200)
    expectSecured(response)
    expect(await response.text()).toMatch(/"maxPayload":65536/)
  })
})

describe('your own models (--models)', () => {
  let own: RunningServer
  const ownFile = (path: string, content: string) => {
    const full = join(dir, 'own', path)
    mkdirSync(join(full, '..'), { recursive: true })
    writeFileSync(full, content)
  }
  beforeAll(async () => {
    ownFile('models/mine/manifest.json', '{"task":"mine"}')
    ownFile('models/fashion/manifest.json', '{"task":"fashion","yours":true}')
    ownFile('data/mine-test.bin', 'samples')
    ownFile('models/.hidden', 'never served')
    ownFile('index.html', 'not the app')
    own = await startServer({
      port: 0,
      host: '127.0.0.1',
      staticDir: join(dir, 'web'),
      stateDir: join(dir, 'state'),
      ownModelsDir: join(dir, 'own'),
      log: (line) => logs.push(line),
    })
  })
  afterAll(() => own.close())
  const getOwn = (path: string, init?: RequestInit) => fetch(`${own.url}${path}`, init)

  it('serves its models and data before the shipped ones, with the same headers', async () => {
    const mine = await getOwn('/models/mine/manifest.json')
    expect(mine.status).toBe(200)
    expect(mine.headers.get('content-type')?.split(';')[0]).toBe('application/json')
    expect(mine.headers.get('cache-control')).toBe('no-cache')
    expect(mine.headers.get('x-content-type-options')).toBe('nosniff')
    expectSecured(mine)
    expect(await mine.json()).toEqual({ task: 'mine' })
    expect(await (await getOwn('/models/fashion/manifest.json')).json()).toEqual({
      task: 'fashion',
      yours: true,
    })
    expect(await (await getOwn('/data/mine-test.bin')).text()).toBe('samples')
  })

  it('leaves everything else to the app', async () => {
    expect(await (await getOwn('/models/fashion/teacher.onnx')).text()).toBe('onnx bytes')
    expect(await (await getOwn('/')).text()).toBe(INDEX)
    expect(await (await getOwn('/index.html')).text()).toBe(INDEX)
    for (const path of ['/models/mine/missing.onnx', '/models/.hidden', '/models/%2Ehidden']) {
      const response = await getOwn(path)
      expect(response.status, path).toBe(404)
      expectSecured(response)
    }
    expect((await getOwn('/models/mine/manifest.json', { method: 'POST' })).status).toBe(405)
  })
})

describe('close', () => {
  it('ends half-sent requests and reconnecting clients instead of waiting for them', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'cohort-close-'))
    const closing = await startServer({
      port: 0,
      host: '127.0.0.1',
      stateDir,
      log: () => undefined,
    })
    try {
      const raw = connect(closing.port, '127.0.0.1')
      await once(raw, 'connect')
      raw.write('GET /healthz HTTP/1.1\r\nHost: x\r\n') // never finished
      const rawClosed = once(raw, 'close')

      const client = io(closing.url, { transports: ['websocket'], forceNew: true })
      await new Promise((resolve) => client.once('connect', () => resolve(undefined)))
      const disconnected = new Promise((resolve) => client.once('disconnect', resolve))

      const closed = closing.close()
      expect(closing.close()).toBe(closed)
      await closed
      expect(await disconnected).toBe('transport close')
      await rawClosed
      client.close()
    } finally {
      rmSync(stateDir, { recursive: true, force: true })
    }
  })
})

describe('without a built app', () => {
  it('says how to build it instead of serving nothing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'cohort-empty-'))
    const logs: string[] = []
    const bare = await startServer({
      port: 0,
      host: '127.0.0.1',
      staticDir: join(empty, 'web'),
      stateDir: empty,
      log: (line) => logs.push(line),
    })
    try {
      const response = await fetch(`${bare.url}/`)
      expect(response.status).toBe(503)
      expect(await response.text()).toMatch(/npm run build/)
      expect(logs.join('\n')).toMatch(/no built web app/)
      expect((await fetch(`${bare.url}/healthz`)).status).toBe(200)
      mkdirSync(join(empty, 'web'))
      writeFileSync(join(empty, 'web', 'index.html'), INDEX)
      expect(await (await fetch(`${bare.url}/r/0123456789ABC`)).text()).toBe(INDEX)
    } finally {
      await bare.close()
      rmSync(empty, { recursive: true, force: true })
    }
  })

  it('reports a busy port as an error', async () => {
    const other = startServer({
      port: server.port,
      host: '127.0.0.1',
      staticDir: join(dir, 'web'),
      stateDir: join(dir, 'state'),
      log: () => undefined,
    })
    await expect(other).rejects.toMatchObject({ code: 'EADDRINUSE' })
  })
})
