import {
  PROTOCOL_VERSION,
  type ServerPush,
  type ServerReply,
  SIGNALING_EVENT,
} from '@cohort/protocol'
import { expect, test } from '@playwright/test'
import { io, type Socket } from 'socket.io-client'
import {
  type CohortServer,
  createRoomAsHost,
  echoAll,
  endTest,
  joinAsDevice,
  startCohortServer,
  waitForModelsReady,
  waitForPlannedLinks,
} from './harness.ts'

let server: CohortServer
const sockets: Socket[] = []
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(async ({ browser }, testInfo) => {
  for (const socket of sockets.splice(0)) socket.disconnect()
  await endTest(browser, server, testInfo)
})

/** A socket.io client that speaks to the coordinator directly, as an attacker or a buggy client would. */
async function rawClient(): Promise<{
  socket: Socket
  pushes: ServerPush[]
  send: (message: unknown) => Promise<ServerReply>
}> {
  const socket = io(server.url, { transports: ['websocket'], reconnection: false })
  sockets.push(socket)
  const pushes: ServerPush[] = []
  socket.on(SIGNALING_EVENT, (push: ServerPush) => pushes.push(push))
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
  const send = (message: unknown) =>
    socket.timeout(5_000).emitWithAck(SIGNALING_EVENT, message) as Promise<ServerReply>
  return { socket, pushes, send }
}

const roomOf = (joinUrl: string) => joinUrl.slice(joinUrl.lastIndexOf('/') + 1)

test('malformed signaling messages get typed errors while the room keeps working', async ({
  browser,
}) => {
  const host = await createRoomAsHost(browser, server)
  const a = await joinAsDevice(browser, host.joinUrl)
  const b = await joinAsDevice(browser, host.joinUrl)
  for (const device of [a, b]) await waitForModelsReady(device.page)
  await waitForPlannedLinks(a.page, [a.deviceId, b.deviceId])

  const raw = await rawClient()
  const welcome = await raw.send({
    type: 'join-room',
    protocolVersion: PROTOCOL_VERSION,
    room: roomOf(host.joinUrl),
    role: 'device',
    label: 'raw client',
  })
  expect(welcome.type).toBe('welcome')

  const malformed: [message: unknown, code: string][] = [
    ['not an object', 'bad-message'],
    [{ type: 'no-such-type' }, 'bad-message'],
    [{ type: 'signal', to: a.deviceId, linkId: 'abcd', data: 42 }, 'bad-message'],
    [
      {
        type: 'signal',
        to: a.deviceId,
        linkId: 'abcd',
        data: { type: 'offer', sdp: 'x'.repeat(20_000) },
      },
      'payload-too-large',
    ],
    [
      {
        type: 'join-room',
        protocolVersion: PROTOCOL_VERSION,
        room: 'lowercase-room',
        role: 'device',
        label: 'x',
      },
      'bad-message',
    ],
  ]
  for (const [message, code] of malformed) {
    const reply = await raw.send(message)
    expect(reply, JSON.stringify(message).slice(0, 80)).toMatchObject({ type: 'error', code })
  }
  // Without an acknowledgement, the error comes back as a push.
  raw.socket.emit(SIGNALING_EVENT, { type: 'no-such-type' })
  await expect
    .poll(() => raw.pushes.some((push) => push.type === 'error' && push.code === 'bad-message'))
    .toBe(true)

  // The room is unharmed: existing links carry tensors, and a newcomer links as its plan says.
  const outcomes = await echoAll(a.page, 4096)
  expect(outcomes.filter((outcome) => outcome.identical)).toHaveLength(2)
  const c = await joinAsDevice(browser, host.joinUrl)
  await waitForModelsReady(c.page)
  const linked = await waitForPlannedLinks(c.page, [a.deviceId, b.deviceId, c.deviceId])
  const cEchoes = await echoAll(c.page, 4096)
  expect(
    cEchoes
      .filter((outcome) => outcome.identical)
      .map((outcome) => outcome.peer)
      .sort(),
  ).toEqual(linked)
})

test("devices of a second room never receive the first room's signals", async ({ browser }) => {
  // Room B: a raw member that records every push it gets.
  const observer = await rawClient()
  const created = await observer.send({ type: 'create-room', protocolVersion: PROTOCOL_VERSION })
  if (created.type !== 'room-created')
    throw new Error(`create-room failed: ${JSON.stringify(created)}`)
  const joined = await observer.send({
    type: 'join-room',
    protocolVersion: PROTOCOL_VERSION,
    room: created.room,
    role: 'host',
    label: 'observer',
    hostKey: created.hostKey,
  })
  expect(joined.type).toBe('welcome')

  // Room A forms and links up: every offer, answer and candidate passes through the coordinator.
  const host = await createRoomAsHost(browser, server)
  const a = await joinAsDevice(browser, host.joinUrl)
  const b = await joinAsDevice(browser, host.joinUrl)
  // Two devices: once planned, each links to the host and the other (the two tiers).
  const both = [a.deviceId, b.deviceId]
  expect(await waitForPlannedLinks(a.page, both)).toContain(b.deviceId)
  await waitForPlannedLinks(b.page, both)
  expect(roomOf(host.joinUrl)).not.toBe(created.room)

  // Room B cannot reach room A's devices either.
  const crossRoom = await observer.send({
    type: 'signal',
    to: a.deviceId,
    linkId: 'abcd1234',
    data: { type: 'offer', sdp: 'v=0' },
  })
  expect(crossRoom).toMatchObject({ type: 'error', code: 'peer-not-found' })
  // Pushes and acks share one ordered socket: everything sent to the observer has arrived by now.
  expect(observer.pushes).toEqual([])
})
