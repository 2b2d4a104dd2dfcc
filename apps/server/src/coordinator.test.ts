import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  MAX_SDP_LENGTH,
  PROTOCOL_VERSION,
  RoomCodeSchema,
  type ServerReply,
} from '@cohort/protocol'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type RunningServer, type ServerOptions, startServer } from './server.ts'
import { createRoom, joinRoom, TestClient, type Welcome } from './testing/clients.ts'

const offer = { type: 'offer', sdp: 'v=0 fake offer' } as const

let stateDir: string
let servers: RunningServer[]
let clients: TestClient[]
let logs: string[]

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'cohort-coordinator-'))
  servers = []
  clients = []
  logs = []
})

afterEach(async () => {
  for (const client of clients) client.close()
  await Promise.all(servers.map((server) => server.close()))
  rmSync(stateDir, { recursive: true, force: true })
})

async function start(options: ServerOptions = {}): Promise<RunningServer> {
  const server = await startServer({
    port: 0,
    host: '127.0.0.1',
    staticDir: stateDir,
    stateDir,
    log: (line) => logs.push(line),
    ...options,
  })
  servers.push(server)
  return server
}

async function client(server: RunningServer): Promise<TestClient> {
  const c = await TestClient.connect(server.url)
  clients.push(c)
  return c
}

function signal(to: string, data: unknown = offer, linkId = 'link1') {
  return { type: 'signal', to, linkId, data }
}

/** A room with a host and `devices` devices, all joined. */
async function room(server: RunningServer, devices: number) {
  const host = await client(server)
  const created = await createRoom(host)
  const hostWelcome = await joinRoom(host, created.room, { role: 'host', hostKey: created.hostKey })
  const members: { client: TestClient; welcome: Welcome }[] = []
  for (let i = 0; i < devices; i++) {
    const c = await client(server)
    members.push({ client: c, welcome: await joinRoom(c, created.room) })
  }
  return { code: created.room, hostKey: created.hostKey, host, hostWelcome, members }
}

describe('rooms over socket.io', () => {
  it('creates a room with an unguessable code and welcomes a device', async () => {
    const server = await start()
    const c = await client(server)
    const created = await createRoom(c)
    expect(RoomCodeSchema.safeParse(created.room).success).toBe(true)
    expect(created.hostKey.length).toBeGreaterThanOrEqual(16)

    const welcome = await joinRoom(c, created.room)
    expect(welcome).toMatchObject({
      protocolVersion: PROTOCOL_VERSION,
      room: created.room,
      role: 'device',
      resumed: false,
      peers: [],
      iceServers: [],
    })
    expect(welcome.deviceId).toMatch(/^[0-9a-z]{10}$/)
    expect(server.stats()).toEqual({ rooms: 1, members: 1 })
  })

  it('hands the configured ICE servers to every device', async () => {
    const iceServers = [{ urls: 'stun:stun.example.org:3478' }]
    const server = await start({ iceServers })
    const c = await client(server)
    const welcome = await joinRoom(c, (await createRoom(c)).room)
    expect(welcome.iceServers).toEqual(iceServers)
  })

  it('tells members who joined and who left, and lists peers in the welcome', async () => {
    const server = await start()
    const { code, host, hostWelcome, members } = await room(server, 1)
    const first = members[0]!
    const joined = await host.nextOfType('peer-joined')
    expect(joined.peer).toMatchObject({ deviceId: first.welcome.deviceId, role: 'device' })
    expect(first.welcome.peers).toEqual([
      expect.objectContaining({ deviceId: hostWelcome.deviceId, role: 'host' }),
    ])

    const second = await client(server)
    const secondWelcome = await joinRoom(second, code, { label: 'phone\u0007 ' })
    expect(secondWelcome.peers.map((p) => p.deviceId).sort()).toEqual(
      [hostWelcome.deviceId, first.welcome.deviceId].sort(),
    )
    expect((await first.client.nextOfType('peer-joined')).peer).toMatchObject({
      deviceId: secondWelcome.deviceId,
      label: 'phone',
    })

    expect(await second.request({ type: 'leave' })).toEqual({ type: 'ok' })
    for (const c of [host, first.client]) {
      expect(await c.nextOfType('peer-left')).toEqual({
        type: 'peer-left',
        deviceId: secondWelcome.deviceId,
        reason: 'left',
      })
    }

    first.client.close()
    expect(await host.nextOfType('peer-left')).toEqual({
      type: 'peer-left',
      deviceId: first.welcome.deviceId,
      reason: 'disconnected',
    })
  })

  it('relays signals inside a room and never into another room', async () => {
    const server = await start()
    const a = await room(server, 2)
    const b = await room(server, 2)
    const [a1, a2] = a.members
    const [b1, b2] = b.members

    expect(await a1!.client.request(signal(a2!.welcome.deviceId))).toEqual({ type: 'ok' })
    expect(await a2!.client.nextOfType('signal')).toEqual({
      type: 'signal',
      from: a1!.welcome.deviceId,
      linkId: 'link1',
      data: offer,
    })

    // Addressing a device of another room is refused as if it did not exist.
    const across = await a1!.client.request(signal(b1!.welcome.deviceId))
    expect(across).toMatchObject({ type: 'error', code: 'peer-not-found' })

    // One socket, in order: anything pushed to room b before this reply would have arrived first.
    for (const c of [b.host, b1!.client, b2!.client]) {
      expect(await c.request({ type: 'leave' })).toEqual({ type: 'ok' })
      expect(c.pushes.filter((p) => p.type === 'signal')).toEqual([])
      const roomADevices = [a.hostWelcome.deviceId, ...a.members.map((m) => m.welcome.deviceId)]
      for (const push of c.pushes) {
        if (push.type === 'peer-joined') expect(roomADevices).not.toContain(push.peer.deviceId)
        if (push.type === 'peer-left') expect(roomADevices).not.toContain(push.deviceId)
      }
    }
  })

  it('refuses to relay to itself, to unknown devices and from outside a room', async () => {
    const server = await start()
    const { members } = await room(server, 1)
    const me = members[0]!
    expect(await me.client.request(signal(me.welcome.deviceId))).toMatchObject({
      code: 'peer-not-found',
    })
    expect(await me.client.request(signal('zzzzzzzzzz'))).toMatchObject({ code: 'peer-not-found' })
    const stranger = await client(server)
    expect(await stranger.request(signal(me.welcome.deviceId))).toMatchObject({
      type: 'error',
      code: 'not-in-room',
    })
  })

  it('answers malformed messages with typed errors, logs them and keeps the room working', async () => {
    const server = await start()
    const { members } = await room(server, 2)
    const [sender, receiver] = members
    const bad = sender!.client
    const cases: [unknown, string][] = [
      ['hello', 'bad-message'],
      [null, 'bad-message'],
      [42, 'bad-message'],
      [[1, 2, 3], 'bad-message'],
      [{}, 'bad-message'],
      [{ type: 'launch-missiles' }, 'bad-message'],
      [{ type: 'signal', to: 'NOT AN ID', linkId: 'link1', data: offer }, 'bad-message'],
      [{ type: 'signal', to: receiver!.welcome.deviceId, linkId: 'x', data: offer }, 'bad-message'],
      [
        signal(receiver!.welcome.deviceId, { type: 'offer', sdp: 'x'.repeat(MAX_SDP_LENGTH + 1) }),
        'payload-too-large',
      ],
      [signal(receiver!.welcome.deviceId, { type: 'rollback' }), 'bad-message'],
      [
        { type: 'join-room', protocolVersion: 1, room: 'not-a-code', role: 'device', label: '' },
        'bad-message',
      ],
      [
        { type: 'join-room', protocolVersion: 1, room: '0000000000000', role: 'god', label: '' },
        'bad-message',
      ],
      [{ type: 'create-room', protocolVersion: '1' }, 'bad-message'],
    ]
    for (const [message, code] of cases) {
      const reply = await bad.request(message)
      expect(reply, JSON.stringify(message).slice(0, 80)).toMatchObject({ type: 'error', code })
      expect(reply.type === 'error' && reply.message).toMatch(/^Invalid signaling message/)
    }
    // Logged, but one line per kind of error and sender, so a flood cannot flood the log.
    expect(logs.filter((l) => / from .*: Invalid signaling message/.test(l))).toHaveLength(2)

    // Without an acknowledgement the error still reaches the sender, as a push.
    bad.send({ type: 'nope' })
    expect(await bad.nextOfType('error')).toMatchObject({ type: 'error', code: 'bad-message' })

    // Extra fields are not relayed: only what the validator knows leaves the server.
    const smuggled = { ...signal(receiver!.welcome.deviceId), extra: 'x'.repeat(1000) }
    expect(await bad.request(smuggled)).toEqual({ type: 'ok' })
    const relayed = await receiver!.client.nextOfType('signal')
    expect(relayed).not.toHaveProperty('extra')

    // The sender is still a member, and nothing malformed reached anyone else.
    expect(await bad.request(signal(receiver!.welcome.deviceId, offer, 'link2'))).toEqual({
      type: 'ok',
    })
    expect((await receiver!.client.nextOfType('signal')).linkId).toBe('link2')
    expect(receiver!.client.pushes.filter((p) => p.type === 'error')).toEqual([])
    expect(server.stats()).toEqual({ rooms: 1, members: 3 })
  })

  it('answers unknown events with a typed error', async () => {
    const server = await start()
    const c = await client(server)
    const reply = (await c.socket.timeout(5_000).emitWithAck('hack', { x: 1 })) as ServerReply
    expect(reply).toMatchObject({ type: 'error', code: 'bad-message' })
    c.socket.emit('hack')
    expect(await c.nextOfType('error')).toMatchObject({ code: 'bad-message' })
  })

  it('closes only the socket that sends an oversize packet', async () => {
    const server = await start()
    const { host, hostWelcome, members } = await room(server, 2)
    const [big, other] = members
    const closed = new Promise<string>((resolve) => big!.client.socket.once('disconnect', resolve))
    big!.client.send({ type: 'signal', blob: 'x'.repeat(100 * 1024) })
    expect(await closed).toBe('transport close')
    expect(await host.nextOfType('peer-left')).toMatchObject({
      deviceId: big!.welcome.deviceId,
      reason: 'disconnected',
    })
    expect(await host.request(signal(other!.welcome.deviceId))).toEqual({ type: 'ok' })
    expect((await other!.client.nextOfType('signal')).from).toBe(hostWelcome.deviceId)
  })

  it('checks the protocol version on create and join', async () => {
    const server = await start()
    const c = await client(server)
    expect(
      await c.request({ type: 'create-room', protocolVersion: PROTOCOL_VERSION + 1 }),
    ).toMatchObject({ type: 'error', code: 'version-mismatch' })
    const { room: code } = await createRoom(c)
    const reply = await c.request({
      type: 'join-room',
      protocolVersion: 0,
      room: code,
      role: 'device',
      label: '',
    })
    expect(reply).toMatchObject({ type: 'error', code: 'version-mismatch' })
  })

  it('refuses unknown rooms', async () => {
    const server = await start()
    const c = await client(server)
    const reply = await c.request({
      type: 'join-room',
      protocolVersion: PROTOCOL_VERSION,
      room: '0123456789ABC',
      role: 'device',
      label: '',
    })
    expect(reply).toMatchObject({ type: 'error', code: 'room-not-found' })
  })

  it('requires the host key for the host role', async () => {
    const server = await start()
    const c = await client(server)
    const mine = await createRoom(c)
    const other = await createRoom(c)
    const base = {
      type: 'join-room',
      protocolVersion: PROTOCOL_VERSION,
      room: mine.room,
      label: '',
    }
    expect(await c.request({ ...base, role: 'host' })).toMatchObject({ code: 'forbidden' })
    expect(await c.request({ ...base, role: 'host', hostKey: other.hostKey })).toMatchObject({
      code: 'forbidden',
    })
    const welcome = await c.request({ ...base, role: 'host', hostKey: mine.hostKey })
    expect(welcome).toMatchObject({ type: 'welcome', role: 'host' })
  })

  it('rate-limits a flooding socket and lets it back in after refill', async () => {
    let clock = 1_000_000
    const server = await start({
      limits: { perSocket: { burst: 5, perSecond: 2 } },
      now: () => clock,
    })
    const c = await client(server)
    for (let i = 0; i < 5; i++) expect(await c.request({ type: 'leave' })).toEqual({ type: 'ok' })
    expect(await c.request({ type: 'leave' })).toMatchObject({
      type: 'error',
      code: 'rate-limited',
    })
    expect(await c.request({ type: 'leave' })).toMatchObject({ code: 'rate-limited' })
    expect(logs.filter((l) => l.startsWith('rate-limited'))).toHaveLength(1)

    clock += 500 // one token back at 2/s
    expect(await c.request({ type: 'leave' })).toEqual({ type: 'ok' })
    expect(await c.request({ type: 'leave' })).toMatchObject({ code: 'rate-limited' })

    // Another socket has its own bucket.
    const other = await client(server)
    expect(await other.request({ type: 'leave' })).toEqual({ type: 'ok' })
  })

  it('limits room creation per address, not per socket', async () => {
    let clock = 1_000_000
    const server = await start({
      limits: { creates: { burst: 2, perSecond: 1 } },
      now: () => clock,
    })
    const first = await client(server)
    await createRoom(first)
    await createRoom(first)
    const second = await client(server)
    const create = { type: 'create-room', protocolVersion: PROTOCOL_VERSION }
    expect(await second.request(create)).toMatchObject({ type: 'error', code: 'rate-limited' })
    clock += 1_000
    expect(await second.request(create)).toMatchObject({ type: 'room-created' })
  })

  it('lets a newcomer to a full room trickle all its candidates under the default limit', async () => {
    const server = await start()
    const { members } = await room(server, 2)
    const [newcomer, peer] = members
    // 63 links x (1 offer + 4 candidates), sent as fast as the socket allows.
    const candidate = {
      type: 'candidate',
      candidate: { candidate: 'candidate:1 1 udp 1 1 1 typ host' },
    }
    const replies = await Promise.all(
      Array.from({ length: 63 * 5 }, (_, i) =>
        newcomer!.client.request(signal(peer!.welcome.deviceId, candidate, `link${i}`)),
      ),
    )
    expect(replies.filter((r) => r.type !== 'ok')).toEqual([])
    // The peer's socket delivers in order: once the last signal is in, all are.
    await peer!.client.next((p) => p.type === 'signal' && p.linkId === `link${63 * 5 - 1}`)
    expect(peer!.client.pushes.filter((p) => p.type === 'signal')).toHaveLength(63 * 5)
  })

  it('fills a room of 64 and relays a full mesh of offers', async () => {
    const server = await start()
    const { host, hostWelcome, members } = await room(server, 63)
    const everyone = [{ client: host, welcome: hostWelcome }, ...members]
    expect(server.stats()).toEqual({ rooms: 1, members: 64 })
    expect(members.at(-1)!.welcome.peers).toHaveLength(63)

    const replies = await Promise.all(
      everyone.flatMap((from) =>
        everyone
          .filter((to) => to !== from)
          .map((to) =>
            from.client.request(signal(to.welcome.deviceId, offer, `from${from.welcome.deviceId}`)),
          ),
      ),
    )
    expect(replies.filter((r) => r.type !== 'ok')).toEqual([])
    for (const { client: c, welcome } of everyone) {
      // Each sender's signals were acknowledged, so each has been pushed; wait for the 63rd.
      while (c.pushes.filter((p) => p.type === 'signal').length < 63) await c.nextOfType('signal')
      const senders = new Set(c.pushes.flatMap((p) => (p.type === 'signal' ? [p.from] : [])))
      expect(senders.size).toBe(63)
      expect(senders.has(welcome.deviceId)).toBe(false)
    }
  })

  it('refuses a device when the room is full and admits it once a seat frees', async () => {
    const server = await start({ maxRoomSize: 2 })
    const { code, members } = await room(server, 1)
    const late = await client(server)
    const refused = await late.request({
      type: 'join-room',
      protocolVersion: PROTOCOL_VERSION,
      room: code,
      role: 'device',
      label: '',
    })
    expect(refused).toMatchObject({ type: 'error', code: 'room-full' })
    await members[0]!.client.request({ type: 'leave' })
    expect((await joinRoom(late, code)).peers).toHaveLength(1)
  })

  it('moves a socket that joins a second room out of the first', async () => {
    const server = await start()
    const a = await room(server, 1)
    const b = await room(server, 0)
    const mover = a.members[0]!
    await joinRoom(mover.client, b.code)
    expect(await a.host.nextOfType('peer-left')).toMatchObject({
      deviceId: mover.welcome.deviceId,
      reason: 'left',
    })
    expect(server.stats()).toEqual({ rooms: 2, members: 3 })
  })
})

describe('resume', () => {
  it('gives a reconnecting device its id back', async () => {
    const server = await start()
    const { code, host, members } = await room(server, 1)
    const device = members[0]!
    await host.nextOfType('peer-joined')
    device.client.close()
    await host.nextOfType('peer-left')

    const again = await client(server)
    const welcome = await joinRoom(again, code, { resumeToken: device.welcome.resumeToken })
    expect(welcome.deviceId).toBe(device.welcome.deviceId)
    expect(welcome.resumed).toBe(true)
    expect(welcome.resumeToken).toBe(device.welcome.resumeToken)
    expect((await host.nextOfType('peer-joined')).peer.deviceId).toBe(device.welcome.deviceId)
  })

  it('lets a reloaded page take over from its still-connected old socket', async () => {
    const server = await start()
    const { code, host, members } = await room(server, 1)
    const old = members[0]!
    const id = old.welcome.deviceId
    await host.nextOfType('peer-joined')

    const reloaded = await client(server)
    const welcome = await joinRoom(reloaded, code, { resumeToken: old.welcome.resumeToken })
    expect(welcome).toMatchObject({ deviceId: id, resumed: true })
    expect(welcome.peers.map((p) => p.deviceId)).not.toContain(id)

    expect(await old.client.nextOfType('peer-left')).toEqual({
      type: 'peer-left',
      deviceId: id,
      reason: 'replaced',
    })
    expect(await host.next()).toEqual({ type: 'peer-left', deviceId: id, reason: 'replaced' })
    expect(await host.next()).toMatchObject({ type: 'peer-joined', peer: { deviceId: id } })

    // The old socket no longer speaks for the device; signals reach the new one.
    expect(await old.client.request(signal(welcome.peers[0]!.deviceId))).toMatchObject({
      code: 'not-in-room',
    })
    expect(await old.client.request({ type: 'leave' })).toEqual({ type: 'ok' })
    expect(await host.request(signal(id))).toEqual({ type: 'ok' })
    expect((await reloaded.nextOfType('signal')).from).toBe(welcome.peers[0]!.deviceId)
    expect(old.client.pushes.filter((p) => p.type === 'signal')).toEqual([])
    // The old socket's leave did not announce anything.
    expect(host.pushes).toHaveLength(3)
    expect(server.stats().members).toBe(2)
  })

  it('ignores a resume token from another room or a forged one', async () => {
    const server = await start()
    const a = await room(server, 1)
    const b = await room(server, 0)
    const token = a.members[0]!.welcome.resumeToken
    const c = await client(server)
    const foreign = await joinRoom(c, b.code, { resumeToken: token })
    expect(foreign.resumed).toBe(false)
    expect(foreign.deviceId).not.toBe(a.members[0]!.welcome.deviceId)

    const forged = `${a.members[0]!.welcome.deviceId}${'A'.repeat(43)}`
    const d = await client(server)
    const welcome = await joinRoom(d, a.code, { resumeToken: forged })
    expect(welcome.resumed).toBe(false)
  })

  it('survives a server restart: tokens re-create the room and give ids back', async () => {
    const first = await start()
    const { code, hostKey, hostWelcome, members } = await room(first, 1)
    const deviceToken = members[0]!.welcome.resumeToken
    await first.close()

    const second = await start()
    const newcomer = await client(second)
    const unknown = await newcomer.request({
      type: 'join-room',
      protocolVersion: PROTOCOL_VERSION,
      room: code,
      role: 'device',
      label: '',
    })
    expect(unknown).toMatchObject({ type: 'error', code: 'room-not-found' })

    const device = await client(second)
    const welcome = await joinRoom(device, code, { resumeToken: deviceToken })
    expect(welcome).toMatchObject({ deviceId: members[0]!.welcome.deviceId, resumed: true })

    const host = await client(second)
    const hostAgain = await joinRoom(host, code, {
      role: 'host',
      hostKey,
      resumeToken: hostWelcome.resumeToken,
    })
    expect(hostAgain).toMatchObject({ deviceId: hostWelcome.deviceId, role: 'host', resumed: true })
    expect(hostAgain.peers.map((p) => p.deviceId)).toEqual([welcome.deviceId])
    expect((await joinRoom(newcomer, code)).peers).toHaveLength(2)
  })

  it('does not accept tokens signed by another secret', async () => {
    const first = await start({ secret: 'one secret that is long enough' })
    const { code, hostKey } = await room(first, 0)
    await first.close()
    const second = await start({ secret: 'another secret, long enough too' })
    const c = await client(second)
    const reply = await c.request({
      type: 'join-room',
      protocolVersion: PROTOCOL_VERSION,
      room: code,
      role: 'host',
      label: '',
      hostKey,
    })
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' })
  })
})
