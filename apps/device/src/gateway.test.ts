import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { devicePeersWanted } from '@cohort/cohort'
import { createRoom } from '@cohort/mesh'
import type { RoomCode } from '@cohort/protocol'
import { type RunningServer, startServer } from '@cohort/server'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type GatewayAnswer, MAX_BODY_BYTES, startGateway } from './gateway.ts'
import { type NodeDevice, startNodeDevice } from './node-device.ts'
import { type NodeRequester, startNodeRequester } from './node-requester.ts'

// The whole path with real parts and no browser: a coordinator, two Node devices (real WebRTC
// over loopback, real onnxruntime sessions), a Node requester and its HTTP gateway, asked over
// HTTP as curl would.

const REPO = resolve(import.meta.dirname, '../../..')
const IMAGES = join(REPO, 'examples/gateway')

describe('the HTTP gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-gateway-'))
  let server: RunningServer
  let devices: NodeDevice[] = []
  let member: NodeRequester
  let url: string
  let closeGateway: () => void

  beforeAll(async () => {
    server = await startServer({
      port: 0,
      host: '127.0.0.1',
      staticDir: join(REPO, 'public'),
      stateDir: dir,
      log: () => {},
      replanDebounceMs: 50,
    })
    const created = await createRoom(server.url)
    if (!created.ok) throw created.error
    const room: RoomCode = created.value.room
    const common = { origin: server.url, room, task: 'fashion', cacheDir: join(dir, 'models') }
    devices = [
      startNodeDevice({ ...common, label: 'node one' }),
      startNodeDevice({ ...common, label: 'node two' }),
    ]
    await Promise.all(devices.map((device) => device.ready))
    member = await startNodeRequester({ ...common, label: 'gateway' })
    // Both devices planned (the plan that arrives after their profiles), and every link that plan
    // needs open: answers that come before a link opens are degraded, and these tests ask for
    // whole ones.
    const ready = () => {
      const planned = (member.mesh.plan?.devices.length ?? 0) >= devices.length
      const requesterLinked = member.mesh
        .peers()
        .every((peer) => peer.info.role !== 'device' || peer.link === 'open')
      const devicesLinked = devices.every((device) => {
        const wants = devicePeersWanted(
          () => device.mesh.plan,
          () => device.mesh.self?.deviceId ?? null,
        )
        return device.mesh.peers().every((peer) => peer.link === 'open' || !wants(peer.info))
      })
      return planned && requesterLinked && devicesLinked
    }
    const meshes = [member.mesh, ...devices.map((device) => device.mesh)]
    await new Promise<void>((done) => {
      const check = () => {
        if (!ready()) return
        for (const stop of stops) stop()
        done()
      }
      const stops = meshes.map((mesh) => mesh.subscribe(check))
      check()
    })
    const gateway = await startGateway({
      requester: member.requester,
      manifest: member.manifest,
      port: 0,
      host: '127.0.0.1',
    })
    url = gateway.url
    closeGateway = () => gateway.server.close()
  }, 120_000)

  afterAll(async () => {
    closeGateway?.()
    member?.leave()
    await Promise.all(devices.map((device) => device.leave()))
    await server?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const post = (body: BodyInit, type: string, query = '') =>
    fetch(`${url}/infer${query}`, { method: 'POST', body, headers: { 'content-type': type } })

  test.each([
    ['trouser.png', 'Trouser'],
    ['bag.png', 'Bag'],
    ['ankle-boot.png', 'Ankle boot'],
  ])('classifies the shipped %s as %s in every mode', async (file, name) => {
    const png = readFileSync(join(IMAGES, file))
    const ids = devices.map((device) => device.mesh.self?.deviceId)
    for (const mode of ['ensemble', 'early-exit', 'single']) {
      const response = await post(png, 'image/png', `?mode=${mode}&deadlineMs=5000`)
      expect(response.status, mode).toBe(200)
      const answer = (await response.json()) as GatewayAnswer
      expect(answer, mode).toMatchObject({ class: name, mode, degraded: false })
      for (const who of answer.answeredBy) expect([...ids, 'requester']).toContain(who)
      if (mode !== 'single') {
        expect(answer.scores).toHaveLength(10)
        expect(answer.scores?.indexOf(Math.max(...(answer.scores ?? [])))).toBe(answer.prediction)
      }
    }
  })

  test('JSON pixels are answered like the image they came from', async () => {
    const image = await post(readFileSync(join(IMAGES, 'bag.png')), 'image/png')
    // The PNG's grey levels over 255, as the manifest's pixelScale asks.
    const { PNG } = await import('pngjs')
    const decoded = PNG.sync.read(readFileSync(join(IMAGES, 'bag.png')))
    const pixels = Array.from({ length: 784 }, (_, i) => (decoded.data[4 * i] ?? 0) / 255)
    const json = await post(JSON.stringify({ pixels, mode: 'ensemble' }), 'application/json')
    expect(json.status).toBe(200)
    expect(((await json.json()) as GatewayAnswer).prediction).toBe(
      ((await image.json()) as GatewayAnswer).prediction,
    )
  })

  test.each([
    ['pixels of the wrong size', () => post('{"pixels":[1,2,3]}', 'application/json'), 400],
    ['a body that is not JSON', () => post('{"pixels":', 'application/json'), 400],
    ['an unknown field', () => post('{"pixels":[],"k":3}', 'application/json'), 400],
    ['a pixel that is not a number', () => post('{"pixels":["x"]}', 'application/json'), 400],
    ['bytes that are not a PNG', () => post('not a png', 'image/png'), 400],
    ['bytes that are not a JPEG', () => post('not a jpeg', 'image/jpeg'), 400],
    [
      'an unknown mode',
      () => post(readFileSync(join(IMAGES, 'bag.png')), 'image/png', '?mode=x'),
      400,
    ],
    [
      'a deadline out of range',
      () => post('{"pixels":[],"deadlineMs":0}', 'application/json'),
      400,
    ],
    ['another media type', () => post('hello', 'text/plain'), 415],
    ['a body past the limit', () => post(new Uint8Array(MAX_BODY_BYTES + 1), 'image/png'), 413],
    ['a GET', () => fetch(`${url}/infer`), 405],
    ['another path', () => fetch(`${url}/nothing`, { method: 'POST' }), 404],
  ])('%s gets a 4xx with a typed error', async (_, send, status) => {
    const response = await send()
    expect(response.status).toBe(status)
    const body = (await response.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toMatch(/^(bad-input|bad-message|payload-too-large)$/)
    expect(body.error.message.length).toBeGreaterThan(0)
    // The gateway still answers afterwards.
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
  })
})
