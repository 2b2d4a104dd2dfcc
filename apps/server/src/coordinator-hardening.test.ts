import { PROTOCOL_VERSION, type ServerReply, ServerReplySchema } from '@cohort/protocol'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { joinRoom, ServerHarness, TestClient } from './testing/clients.ts'
import { RawClient } from './testing/raw-client.ts'

let harness: ServerHarness
beforeEach(() => {
  harness = new ServerHarness()
})
afterEach(() => harness.close())

const join = (room: string, extra: Record<string, unknown> = {}) => ({
  type: 'join-room',
  protocolVersion: PROTOCOL_VERSION,
  room,
  role: 'device',
  label: 'x',
  ...extra,
})

/** The JSON of an ack packet (`3<id>[reply]`). */
function ackReply(packet: string): ServerReply {
  const json: unknown = JSON.parse(packet.replace(/^3\d+/, ''))
  return ServerReplySchema.parse(Array.isArray(json) ? json[0] : undefined)
}

describe('what one packet cannot do', () => {
  it('survives an event whose name is a number, raw or from socket.io-client', async () => {
    const server = await harness.start()
    const { host, members } = await harness.room(server, 1)
    const raw = await RawClient.connect(server.url)
    raw.send('2[123]')
    raw.send('2[1.5,{"type":"leave"}]')
    raw.send('27[123]')
    await raw.roundTrip()
    expect(ackReply(raw.received.find((p) => p.startsWith('37[')) ?? '')).toMatchObject({
      type: 'error',
      code: 'bad-message',
      message: expect.stringContaining('Unknown event "123"'),
    })
    const emitted = await harness.client(server)
    // socket.io-client's types forbid a number; the wire allows it.
    ;(emitted.socket.emit as (event: unknown) => void)(1)
    const reply = await (
      emitted.socket.timeout(5_000).emitWithAck as (event: unknown) => Promise<unknown>
    )(2)
    expect(reply).toMatchObject({ type: 'error', code: 'bad-message' })
    // Everyone is still served.
    expect(
      await host.request({
        type: 'signal',
        to: members[0]!.welcome.deviceId,
        linkId: 'link1',
        data: { type: 'offer', sdp: 'v=0' },
      }),
    ).toEqual({ type: 'ok' })
    expect(await raw.roundTrip()).toMatch(/^3\d+\[\{"type":"ok"\}\]$/)
  })

  it('answers an ack that carries no message, instead of taking the ack for the message', async () => {
    const server = await harness.start()
    const c = await harness.client(server)
    const reply = (await c.socket.timeout(5_000).emitWithAck('message')) as ServerReply
    expect(reply).toMatchObject({
      type: 'error',
      code: 'bad-message',
      message: expect.stringContaining('exactly one message, not 0'),
    })
    const two = (await c.socket
      .timeout(5_000)
      .emitWithAck('message', { type: 'leave' }, 'extra')) as ServerReply
    expect(two).toMatchObject({ type: 'error', code: 'bad-message' })
    const raw = await RawClient.connect(server.url)
    raw.send('25["message"]')
    await raw.roundTrip()
    expect(ackReply(raw.received.find((p) => p.startsWith('35[')) ?? '')).toMatchObject({
      code: 'bad-message',
    })
  })
})

describe('roles', () => {
  it('takes host-only messages from the host only, and member messages from members only', async () => {
    const server = await harness.start()
    const { host, members } = await harness.room(server, 2)
    const [device, peer] = members
    const hostOnly = [
      {
        type: 'report',
        outcomes: [{ deviceId: peer!.welcome.deviceId, requests: 1_000_000, misses: 1_000_000 }],
      },
      { type: 'set-task', task: 'digits' },
      { type: 'set-ensemble-k', k: 2 },
      { type: 'remove-device', deviceId: peer!.welcome.deviceId },
      { type: 'lock-room', locked: true },
      { type: 'end-room' },
    ]
    for (const message of hostOnly) {
      expect(await device!.client.request(message), message.type).toMatchObject({
        type: 'error',
        code: 'forbidden',
      })
    }
    expect(server.stats()).toEqual({ rooms: 1, members: 3 })
    const profile = { type: 'profile', profile: {} }
    expect(await host.request(profile)).toMatchObject({
      code: expect.stringMatching(/forbidden|bad-message/),
    })
    const stranger = await harness.client(server)
    for (const message of [
      { type: 'report', outcomes: [] },
      {
        type: 'signal',
        to: peer!.welcome.deviceId,
        linkId: 'link1',
        data: { type: 'offer', sdp: 'v=0' },
      },
    ]) {
      expect(await stranger.request(message)).toMatchObject({ code: 'not-in-room' })
    }
    expect(harness.logs.some((line) => line.includes('A device may not send report'))).toBe(true)
  })
})

describe('requesters', () => {
  it('join without a host key, are announced to the room, signal devices, and may not steer or report', async () => {
    const server = await harness.start()
    const { code, members } = await harness.room(server, 1)
    const [device] = members
    const requester = await harness.client(server)
    const welcome = await joinRoom(requester, code, { role: 'requester', label: 'an app' })
    expect(welcome).toMatchObject({ role: 'requester' })
    expect(welcome.peers.map((peer) => peer.deviceId)).toContain(device!.welcome.deviceId)
    expect(await device!.client.nextOfType('peer-joined')).toMatchObject({
      peer: { deviceId: welcome.deviceId, role: 'requester', label: 'an app' },
    })
    expect(
      await requester.request({
        type: 'signal',
        to: device!.welcome.deviceId,
        linkId: 'link1',
        data: { type: 'offer', sdp: 'v=0' },
      }),
    ).toEqual({ type: 'ok' })
    for (const message of [
      {
        type: 'report',
        outcomes: [{ deviceId: device!.welcome.deviceId, requests: 9, misses: 9 }],
      },
      { type: 'profile', profile: {} },
      { type: 'set-ensemble-k', k: 2 },
      { type: 'lock-room', locked: true },
    ]) {
      expect(await requester.request(message), message.type).toMatchObject({
        type: 'error',
        code: expect.stringMatching(/forbidden|bad-message/),
      })
    }
    expect(server.stats()).toEqual({ rooms: 1, members: 3 })
  })
})

describe('host actions', () => {
  it('removes a device for good: its token is revoked, also after a restart', async () => {
    const server = await harness.start()
    const { code, hostKey, host, members } = await harness.room(server, 1)
    const removed = members[0]!
    expect(
      await host.request({ type: 'remove-device', deviceId: removed.welcome.deviceId }),
    ).toEqual({ type: 'ok' })
    const again = await harness.client(server)
    expect(
      await again.request(join(code, { resumeToken: removed.welcome.resumeToken })),
    ).toMatchObject({
      type: 'error',
      code: 'banned',
      message: expect.stringContaining('removed this device'),
    })
    await server.close()
    const restarted = await harness.start({ port: server.port })
    const afterRestart = await harness.client(restarted)
    expect(
      await afterRestart.request(join(code, { resumeToken: removed.welcome.resumeToken })),
    ).toMatchObject({ code: 'banned' })
    await joinRoom(await harness.client(restarted), code, { role: 'host', hostKey })
    // Without the token it is a new device, which an unlocked room takes.
    expect((await joinRoom(afterRestart, code)).deviceId).not.toBe(removed.welcome.deviceId)
  })

  it('bans an address: no new identity from it gets in', async () => {
    const server = await harness.start()
    const { code, hostKey, host, members } = await harness.room(server, 1)
    expect(
      await host.request({
        type: 'remove-device',
        deviceId: members[0]!.welcome.deviceId,
        ban: true,
      }),
    ).toEqual({ type: 'ok' })
    const fresh = await harness.client(server)
    expect(await fresh.request(join(code))).toMatchObject({
      code: 'banned',
      message: expect.stringContaining('banned this network address'),
    })
    // The host, with its key, still gets in from the same address.
    expect((await joinRoom(fresh, code, { role: 'host', hostKey })).role).toBe('host')
  })

  it('locks the room: newcomers are refused, members coming back are not', async () => {
    const server = await harness.start()
    const { code, host, members } = await harness.room(server, 1)
    const back = members[0]!
    expect(await host.request({ type: 'lock-room', locked: true })).toEqual({ type: 'ok' })
    expect(await back.client.nextOfType('room-locked')).toEqual({
      type: 'room-locked',
      locked: true,
    })
    const newcomer = await harness.client(server)
    expect(await newcomer.request(join(code))).toMatchObject({ code: 'room-locked' })
    back.client.close()
    const reloaded = await harness.client(server)
    const welcome = await joinRoom(reloaded, code, { resumeToken: back.welcome.resumeToken })
    expect(welcome).toMatchObject({ deviceId: back.welcome.deviceId, resumed: true, locked: true })
    expect(await host.request({ type: 'lock-room', locked: false })).toEqual({ type: 'ok' })
    expect((await joinRoom(newcomer, code)).locked).toBe(false)
  })

  it('ends the room: members are sent away, and no key or token brings it back', async () => {
    const server = await harness.start()
    const { code, hostKey, host, members } = await harness.room(server, 2)
    const gone = Promise.all(
      members.map(
        ({ client }) => new Promise((resolve) => client.socket.once('disconnect', resolve)),
      ),
    )
    expect(await host.request({ type: 'end-room' })).toEqual({ type: 'ok' })
    for (const { client } of members)
      expect(await client.nextOfType('room-ended')).toEqual({ type: 'room-ended' })
    await gone
    expect(server.stats()).toEqual({ rooms: 0, members: 0 })
    const late = await harness.client(server)
    expect(await late.request(join(code, { role: 'host', hostKey }))).toMatchObject({
      code: 'room-ended',
    })
    expect(
      await late.request(join(code, { resumeToken: members[0]!.welcome.resumeToken })),
    ).toMatchObject({ code: 'room-ended' })
    await server.close()
    const restarted = await harness.start({ port: server.port })
    const afterRestart = await harness.client(restarted)
    expect(await afterRestart.request(join(code, { role: 'host', hostKey }))).toMatchObject({
      code: 'room-ended',
    })
  })

  it('lets resume tokens expire after their lifetime', async () => {
    let clock = 1_000_000
    const server = await harness.start({ now: () => clock, resumeTokenLifetimeMs: 60_000 })
    const { code, members } = await harness.room(server, 1)
    const old = members[0]!
    old.client.close()
    clock += 60_000
    const back = await harness.client(server)
    const welcome = await joinRoom(back, code, { resumeToken: old.welcome.resumeToken })
    expect(welcome.resumed).toBe(false)
    expect(welcome.deviceId).not.toBe(old.welcome.deviceId)
    expect(harness.logs.some((line) => line.includes('ignored a resume token (expired)'))).toBe(
      true,
    )
  })
})

describe('limits per address', () => {
  it('stops guessing across many sockets of one address', async () => {
    const server = await harness.start({ limits: { refusedJoins: { burst: 5, perSecond: 0 } } })
    const { code } = await harness.room(server, 0)
    const sockets = await Promise.all(Array.from({ length: 5 }, () => harness.client(server)))
    const guesses = await Promise.all(
      sockets.flatMap((socket, i) =>
        [0, 1].map((j) => socket.request(join(`0000000000${i}${j}A`.slice(-13)))),
      ),
    )
    expect(
      guesses.filter((reply) => reply.type === 'error' && reply.code === 'room-not-found'),
    ).toHaveLength(5)
    expect(
      guesses.filter((reply) => reply.type === 'error' && reply.code === 'rate-limited'),
    ).toHaveLength(5)
    // Even the right code waits now: the address used up its guesses.
    expect(await sockets[0]!.request(join(code))).toMatchObject({ code: 'rate-limited' })
  })

  it('budgets the messages of all sockets of one address together', async () => {
    const server = await harness.start({ limits: { perAddress: { burst: 20, perSecond: 0 } } })
    const sockets = await Promise.all(Array.from({ length: 4 }, () => harness.client(server)))
    const replies = await Promise.all(
      sockets.flatMap((socket) =>
        Array.from({ length: 10 }, () => socket.request({ type: 'leave' })),
      ),
    )
    expect(
      replies.filter((reply) => reply.type === 'error' && reply.code === 'rate-limited'),
    ).toHaveLength(20)
  })

  it('cuts off a socket that keeps flooding past its budget', async () => {
    const server = await harness.start({
      limits: { perSocket: { burst: 5, perSecond: 0 }, dropsBeforeDisconnect: 20 },
    })
    const flooder = await harness.client(server)
    const closed = new Promise<string>((resolve) => flooder.socket.once('disconnect', resolve))
    for (let i = 0; i < 40; i++) flooder.send({ type: 'leave' })
    expect(await closed).toBe('io server disconnect')
    // One error push per flood, not one per dropped message.
    expect(flooder.pushes.filter((push) => push.type === 'error')).toHaveLength(1)
    expect(harness.logs.some((line) => line.includes('after 20 dropped messages in a row'))).toBe(
      true,
    )
    // Its address cools down before it may open another socket.
    await expect(TestClient.connect(server.url)).rejects.toThrow()
    expect(harness.logs.some((line) => line.includes('cut off for flooding'))).toBe(true)
  })

  it('cuts off a flooding member without shutting out its classmates behind the same address', async () => {
    const server = await harness.start({
      limits: { perSocket: { burst: 5, perSecond: 0 }, dropsBeforeDisconnect: 20 },
    })
    const { code, members } = await harness.room(server, 2)
    const [flooder, classmate] = members as [(typeof members)[0], (typeof members)[0]]
    const closed = new Promise<string>((resolve) =>
      flooder.client.socket.once('disconnect', resolve),
    )
    for (let i = 0; i < 40; i++) flooder.client.send({ type: 'flood' })
    expect(await closed).toBe('io server disconnect')
    // The classmate keeps its seat and its budget; a newcomer from the address gets in.
    expect(await classmate.client.request({ type: 'leave' })).toEqual({ type: 'ok' })
    const newcomer = await harness.client(server)
    expect((await joinRoom(newcomer, code)).deviceId).not.toBe(flooder.welcome.deviceId)
    // The flooder may not come back as itself until it cooled down.
    const back = await harness.client(server)
    expect(
      await back.request(join(code, { resumeToken: flooder.welcome.resumeToken })),
    ).toMatchObject({
      code: 'rate-limited',
      message: expect.stringContaining('cut off for flooding'),
    })
  })

  it('caps the sockets one address holds open', async () => {
    const server = await harness.start({ limits: { socketsPerAddress: 3 } })
    for (let i = 0; i < 3; i++) await harness.client(server)
    await expect(TestClient.connect(server.url)).rejects.toThrow()
    expect(harness.logs.some((line) => line.includes('too many sockets from this address'))).toBe(
      true,
    )
  })

  it('refuses sockets from pages of other origins unless allowed', async () => {
    const server = await harness.start({ allowedOrigins: ['https://app.example.org'] })
    const origin = (value: string) => RawClient.connect(server.url, { Origin: value })
    await expect(origin('https://evil.example')).rejects.toThrow()
    const own = await origin(server.url)
    expect(await own.roundTrip()).toMatch(/"ok"/)
    const allowed = await origin('https://app.example.org')
    expect(await allowed.roundTrip()).toMatch(/"ok"/)
    own.close()
    allowed.close()
  })
})

describe('a room behind one address', () => {
  it('limits the seats one address takes, with a message naming the limit', async () => {
    const server = await harness.start({
      limits: { seatsPerAddress: 2, loopbackTakesAnySeats: false },
    })
    // The host takes the first seat.
    const { code } = await harness.room(server, 0)
    const second = await harness.client(server)
    await joinRoom(second, code)
    const third = await harness.client(server)
    expect(await third.request(join(code))).toMatchObject({
      code: 'room-full',
      message: expect.stringContaining('already holds 2 seats'),
    })
  })

  it('lets this machine’s loopback take any number of seats by default', async () => {
    const server = await harness.start({ limits: { seatsPerAddress: 1 } })
    const { code } = await harness.room(server, 3)
    expect((await joinRoom(await harness.client(server), code)).peers).toHaveLength(4)
  })
})
