import { PROTOCOL_VERSION, ServerReplySchema } from '@cohort/protocol'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRoom, joinRoom, ServerHarness } from './testing/clients.ts'
import { RawClient } from './testing/raw-client.ts'

/** How many packets the fuzzer sends; the issue asks for at least 10,000. */
const PACKETS = 10_000

let harness: ServerHarness
beforeEach(() => {
  harness = new ServerHarness()
})
afterEach(() => harness.close())

/** Budgets so high that every packet reaches the parser and handlers instead of a rate limit. */
const open = { burst: 1e9, perSecond: 1e9 }

const json = fc.jsonValue({ maxDepth: 3 })
const roomCode = fc.stringMatching(/^[0-9A-HJKMNP-TV-Z]{13}$/)
const deviceId = fc.stringMatching(/^[0-9a-z]{8,16}$/)

/** Messages of every type, valid or one field off, so the handlers behind the schema are reached too. */
const message = fc.oneof(
  fc.record({
    type: fc.constant('create-room'),
    protocolVersion: fc.oneof(fc.constant(PROTOCOL_VERSION), json),
  }),
  fc.record(
    {
      type: fc.constant('join-room'),
      protocolVersion: fc.constant(PROTOCOL_VERSION),
      room: fc.oneof(roomCode, json),
      role: fc.oneof(fc.constantFrom('device', 'host'), json),
      label: fc.string({ maxLength: 100 }),
      resumeToken: fc.oneof(fc.stringMatching(/^[0-9A-Za-z_-]{16,128}$/), json),
    },
    { requiredKeys: ['type', 'protocolVersion', 'room', 'role', 'label'] },
  ),
  fc.record({
    type: fc.constant('signal'),
    to: fc.oneof(deviceId, json),
    linkId: fc.string(),
    data: json,
  }),
  fc.record({ type: fc.constantFrom('leave', 'end-room') }),
  fc.record({ type: fc.constant('lock-room'), locked: fc.oneof(fc.boolean(), json) }),
  fc.record({ type: fc.constant('remove-device'), deviceId: fc.oneof(deviceId, json), ban: json }),
  fc.record({ type: fc.constant('report'), outcomes: fc.array(json, { maxLength: 5 }) }),
  fc.record({ type: fc.constant('profile'), profile: json }),
  fc.record({ type: fc.constantFrom('set-task', 'set-ensemble-k'), task: json, k: json }),
  json,
)

/** Event names socket.io's parser lets through (strings, numbers) and some it refuses. */
const eventName = fc.oneof(
  { weight: 6, arbitrary: fc.constant<unknown>('message') },
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.constantFrom<unknown>('connect', 'disconnect', 'error', 'newListener', null, true, {}, []),
)

/** One raw socket.io packet (engine.io's leading `4` is added by the transport). */
const packet: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(eventName, fc.array(message, { maxLength: 2 }))
      .map(([event, args]) => `2${JSON.stringify([event, ...args])}`),
  },
  {
    weight: 8,
    arbitrary: fc
      .tuple(fc.nat(1_000), eventName, fc.array(message, { maxLength: 2 }))
      .map(([id, event, args]) => `2${id}${JSON.stringify([event, ...args])}`),
  },
  // Acks with no payload, for one event or none.
  fc.nat(1_000).map((id) => `2${id}["message"]`),
  fc.nat(1_000).map((id) => `3${id}[]`),
  // Binary events whose attachments never come, or do.
  fc
    .tuple(fc.nat(3), fc.nat(1_000))
    .map(([count, id]) => `5${count}-${id}["message",{"_placeholder":true,"num":0}]`),
  fc.uint8Array({ maxLength: 64 }),
  // Other namespaces, stray connects and disconnects, and plain garbage.
  json.map((value) => `2/admin,${JSON.stringify(['message', value])}`),
  fc.constantFrom('0', '1', '4"boom"', '6', '2', '2[', '2{}', '2null', `2${'['.repeat(1_000)}`),
  fc.string({ maxLength: 200 }),
)

describe('signaling fuzz', () => {
  it(`survives ${PACKETS} generated packets, answers every ack with a typed reply, and keeps serving`, async () => {
    const server = await harness.start({
      limits: {
        perSocket: open,
        perAddress: open,
        strangers: open,
        refusedJoins: open,
        creates: open,
        connects: open,
      },
    })
    const { host, members } = await harness.room(server, 1)
    const packets = fc.sample(packet, { numRuns: PACKETS, seed: 11 })

    let raw = await RawClient.connect(server.url)
    let closedByServer = 0
    const replies: string[] = []
    for (const p of packets) {
      raw.send(p)
      // Answered in order: once this comes back, the packet before it was handled.
      const answer = await raw.roundTrip()
      replies.push(
        ...raw.received.filter((received) => received.startsWith('3') && received !== answer),
      )
      raw.received.length = 0
      if (answer === '<closed>') {
        // The parser closes a connection on a malformed packet; an attacker just opens another.
        closedByServer++
        raw = await RawClient.connect(server.url)
      }
    }
    raw.close()

    // Most packets were parsed and answered; the malformed ones closed their connection.
    expect(closedByServer).toBeGreaterThan(0)
    expect(closedByServer).toBeLessThan(PACKETS / 2)
    expect(replies.length).toBeGreaterThan(PACKETS / 5)
    for (const reply of replies) {
      const body: unknown = JSON.parse(reply.replace(/^3\d+/, ''))
      expect(
        Array.isArray(body) && ServerReplySchema.safeParse(body[0]).success,
        reply.slice(0, 200),
      ).toBe(true)
    }

    // The room and the server are unharmed.
    expect(server.stats().members).toBe(2)
    const peer = members[0]!
    expect(
      await host.request({
        type: 'signal',
        to: peer.welcome.deviceId,
        linkId: 'after-fuzz',
        data: { type: 'offer', sdp: 'v=0' },
      }),
    ).toEqual({ type: 'ok' })
    expect((await peer.client.nextOfType('signal')).linkId).toBe('after-fuzz')
    const newcomer = await harness.client(server)
    const created = await createRoom(newcomer)
    expect((await joinRoom(newcomer, created.room)).peers).toEqual([])
  }, 60_000)
})
