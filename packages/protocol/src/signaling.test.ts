import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ClientMessageSchema,
  IceServerSchema,
  MAX_SDP_LENGTH,
  PeerInfoSchema,
  ServerPushSchema,
  ServerReplySchema,
  SignalDataSchema,
} from './signaling.ts'
import { PROTOCOL_VERSION } from './version.ts'

const ROOM = 'ABCD2345EFGHJ'
const DEVICE = 'dev0abc1'
const TOKEN = 'resume_token-0123456789'
const HOST_KEY = 'host-key_0123456789abcdef'
const LINK = 'link-1'
const offer = { type: 'offer', sdp: 'v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\n' }
const candidate = {
  type: 'candidate',
  candidate: {
    candidate: 'candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host',
    sdpMLineIndex: 0,
    sdpMid: '0',
    usernameFragment: 'abcd',
  },
}
const peer = {
  deviceId: DEVICE,
  role: 'device',
  name: 'Teal Otter',
  label: 'Pixel 8',
  joinedAt: 1_700_000_000_000,
}
const join = {
  type: 'join-room',
  protocolVersion: PROTOCOL_VERSION,
  room: ROOM,
  role: 'device',
  label: 'Kitchen laptop',
}
const welcome = {
  type: 'welcome',
  protocolVersion: PROTOCOL_VERSION,
  room: ROOM,
  deviceId: DEVICE,
  name: 'Coral Heron',
  resumeToken: TOKEN,
  role: 'host',
  resumed: false,
  peers: [peer, { ...peer, deviceId: 'host0001', role: 'host', label: '' }],
  iceServers: [
    { urls: 'stun:stun.l.google.com:19302' },
    {
      urls: ['turn:turn.example.org:3478', 'turns:turn.example.org:5349'],
      username: 'u',
      credential: 'c',
    },
  ],
  locked: false,
}

const validClientMessages: [string, unknown][] = [
  ['create-room', { type: 'create-room', protocolVersion: PROTOCOL_VERSION }],
  ['join-room as a device', join],
  ['join-room as a host with a host key', { ...join, role: 'host', hostKey: HOST_KEY }],
  ['join-room resuming', { ...join, resumeToken: TOKEN }],
  ['join-room with an 80-character label', { ...join, label: 'ü'.repeat(80) }],
  ['join-room from an older client', { ...join, protocolVersion: 0 }],
  ['signal with an offer', { type: 'signal', to: DEVICE, linkId: LINK, data: offer }],
  [
    'signal with an answer',
    { type: 'signal', to: DEVICE, linkId: LINK, data: { type: 'answer', sdp: '' } },
  ],
  ['signal with a candidate', { type: 'signal', to: DEVICE, linkId: LINK, data: candidate }],
  [
    'signal with a bare candidate',
    {
      type: 'signal',
      to: DEVICE,
      linkId: 'a_-Z',
      data: { type: 'candidate', candidate: { candidate: '' } },
    },
  ],
  [
    'signal with null candidate fields',
    {
      type: 'signal',
      to: DEVICE,
      linkId: LINK,
      data: {
        type: 'candidate',
        candidate: { candidate: '', sdpMLineIndex: null, sdpMid: null, usernameFragment: null },
      },
    },
  ],
  [
    'signal with the largest sdp',
    {
      type: 'signal',
      to: DEVICE,
      linkId: LINK,
      data: { type: 'offer', sdp: 's'.repeat(MAX_SDP_LENGTH) },
    },
  ],
  ['leave', { type: 'leave' }],
  ['remove-device', { type: 'remove-device', deviceId: DEVICE }],
  ['remove-device with a ban', { type: 'remove-device', deviceId: DEVICE, ban: true }],
  ['lock-room', { type: 'lock-room', locked: true }],
  ['end-room', { type: 'end-room' }],
]

const validServerReplies: [string, unknown][] = [
  ['room-created', { type: 'room-created', room: ROOM, hostKey: HOST_KEY }],
  ['welcome', welcome],
  ['welcome to an empty room', { ...welcome, resumed: true, peers: [], iceServers: [] }],
  ['welcome to a locked room', { ...welcome, locked: true }],
  ['ok', { type: 'ok' }],
  [
    'error',
    {
      type: 'error',
      code: 'room-not-found',
      message: 'No room has that code: check it and try again.',
    },
  ],
  [
    'error with a request id',
    { type: 'error', code: 'rate-limited', message: 'Slow down.', requestId: 'req-1' },
  ],
]

const validServerPushes: [string, unknown][] = [
  ['peer-joined', { type: 'peer-joined', peer }],
  ...(['left', 'disconnected', 'replaced', 'removed'] as const).map((reason): [string, unknown] => [
    `peer-left (${reason})`,
    { type: 'peer-left', deviceId: DEVICE, reason },
  ]),
  ['signal', { type: 'signal', from: DEVICE, linkId: LINK, data: candidate }],
  ['error', { type: 'error', code: 'version-mismatch', message: 'Reload the page.' }],
  ['room-locked', { type: 'room-locked', locked: true }],
  ['room-ended', { type: 'room-ended' }],
]

describe('valid signaling messages', () => {
  it.each(validClientMessages)('a client may send %s', (_, message) => {
    const parsed = ClientMessageSchema.safeParse(message)
    expect(parsed.error).toBeUndefined()
    expect(parsed.data).toEqual(message)
  })

  it.each(validServerReplies)('the server may reply %s', (_, message) => {
    const parsed = ServerReplySchema.safeParse(message)
    expect(parsed.error).toBeUndefined()
    expect(parsed.data).toEqual(message)
  })

  it.each(validServerPushes)('the server may push %s', (_, message) => {
    const parsed = ServerPushSchema.safeParse(message)
    expect(parsed.error).toBeUndefined()
    expect(parsed.data).toEqual(message)
  })

  it('survive a JSON round trip, as socket.io sends them', () => {
    for (const [, message] of [
      ...validClientMessages,
      ...validServerReplies,
      ...validServerPushes,
    ]) {
      const copy: unknown = JSON.parse(JSON.stringify(message))
      const schemas = [ClientMessageSchema, ServerReplySchema, ServerPushSchema]
      expect(schemas.some((schema) => schema.safeParse(copy).success)).toBe(true)
    }
  })
})

describe('invalid client messages', () => {
  const signal = (data: unknown, extra: Record<string, unknown> = {}) => ({
    type: 'signal',
    to: DEVICE,
    linkId: LINK,
    data,
    ...extra,
  })
  const invalid: [string, unknown][] = [
    ['undefined', undefined],
    ['null', null],
    ['a string', 'join-room'],
    ['an array', [join]],
    ['no type', { protocolVersion: PROTOCOL_VERSION }],
    ['an unknown type', { type: 'delete-room', room: ROOM }],
    ['a type in another case', { type: 'Leave' }],
    ['a server reply type', { type: 'ok' }],
    ['a fractional protocol version', { type: 'create-room', protocolVersion: 1.5 }],
    ['a protocol version as a string', { type: 'create-room', protocolVersion: '1' }],
    ['a missing protocol version', { type: 'create-room' }],
    ['a lower-case room code', { ...join, room: ROOM.toLowerCase() }],
    ['a room code with a dash', { ...join, room: 'ABCD-2345-EFGHJ' }],
    ['a room code with an I', { ...join, room: 'ABCD2345EFGHI' }],
    ['a room code with an O', { ...join, room: 'ABCD2345EFGHO' }],
    ['a room code with a U', { ...join, room: 'ABCD2345EFGHU' }],
    ['a 12-character room code', { ...join, room: ROOM.slice(1) }],
    ['a 14-character room code', { ...join, room: `${ROOM}2` }],
    ['a room code as a number', { ...join, room: 1234567890123 }],
    ['an unknown role', { ...join, role: 'admin' }],
    ['an 81-character label', { ...join, label: 'x'.repeat(81) }],
    ['a label as a number', { ...join, label: 42 }],
    ['a missing label', { type: 'join-room', protocolVersion: 1, room: ROOM, role: 'device' }],
    ['a short resume token', { ...join, resumeToken: 'short' }],
    ['a resume token with a slash', { ...join, resumeToken: `${TOKEN}/` }],
    ['a host key over 128 characters', { ...join, hostKey: 'k'.repeat(129) }],
    ['a null host key', { ...join, hostKey: null }],
    ['an oversize offer', signal({ type: 'offer', sdp: 's'.repeat(MAX_SDP_LENGTH + 1) })],
    ['an oversize answer', signal({ type: 'answer', sdp: 's'.repeat(MAX_SDP_LENGTH + 1) })],
    ['an sdp that is not a string', signal({ type: 'offer', sdp: { sdp: 'v=0' } })],
    ['an unknown signal type', signal({ type: 'renegotiate' })],
    ['an offer without sdp', signal({ type: 'offer' })],
    [
      'an oversize candidate',
      signal({ type: 'candidate', candidate: { candidate: 'c'.repeat(2_049) } }),
    ],
    [
      'a candidate line index over 64',
      signal({ type: 'candidate', candidate: { candidate: '', sdpMLineIndex: 65 } }),
    ],
    [
      'a negative candidate line index',
      signal({ type: 'candidate', candidate: { candidate: '', sdpMLineIndex: -1 } }),
    ],
    ['a candidate as a string', signal({ type: 'candidate', candidate: 'candidate:1 1 udp' })],
    ['a device id with upper case', signal(offer, { to: 'DEV0ABC1' })],
    ['a device id too short', signal(offer, { to: 'dev0abc' })],
    ['a device id too long', signal(offer, { to: 'd'.repeat(17) })],
    ['a link id too short', signal(offer, { linkId: 'abc' })],
    ['a link id too long', signal(offer, { linkId: 'l'.repeat(33) })],
    ['a link id with a space', signal(offer, { linkId: 'link 1' })],
    ['a signal without data', { type: 'signal', to: DEVICE, linkId: LINK }],
  ]

  it.each(invalid)('rejects %s', (_, message) => {
    expect(ClientMessageSchema.safeParse(message).success).toBe(false)
  })
})

describe('invalid server messages', () => {
  const replies: [string, unknown][] = [
    ['an unknown type', { type: 'goodbye' }],
    [
      'a room-created with a bad room code',
      { type: 'room-created', room: 'abc', hostKey: HOST_KEY },
    ],
    ['a room-created without a host key', { type: 'room-created', room: ROOM }],
    ['a welcome with resumed as a string', { ...welcome, resumed: 'false' }],
    ['a welcome without locked', { ...welcome, locked: undefined }],
    ['a welcome with peers as an object', { ...welcome, peers: {} }],
    ['a welcome without a name', { ...welcome, name: undefined }],
    [
      'a welcome with a peer name over 64 characters',
      { ...welcome, peers: [{ ...peer, name: 'n'.repeat(65) }] },
    ],
    [
      'a welcome with a peer label over 80 characters',
      { ...welcome, peers: [{ ...peer, label: 'p'.repeat(81) }] },
    ],
    [
      'a welcome with a peer without joinedAt',
      { ...welcome, peers: [{ deviceId: DEVICE, role: 'device', label: '' }] },
    ],
    [
      'a welcome with nine ICE urls',
      { ...welcome, iceServers: [{ urls: Array(9).fill('stun:x') }] },
    ],
    ['a welcome with an ICE server without urls', { ...welcome, iceServers: [{ username: 'u' }] }],
    ['an error with an unknown code', { type: 'error', code: 'teapot', message: '' }],
    ['an error without a message', { type: 'error', code: 'internal' }],
    [
      'an error with a bad request id',
      { type: 'error', code: 'internal', message: '', requestId: '' },
    ],
  ]
  it.each(replies)('a reply with %s is rejected', (_, message) => {
    expect(ServerReplySchema.safeParse(message).success).toBe(false)
  })

  const pushes: [string, unknown][] = [
    ['an unknown type', { type: 'peer-updated', peer }],
    ['a peer with an unknown role', { type: 'peer-joined', peer: { ...peer, role: 'owner' } }],
    ['an unknown leave reason', { type: 'peer-left', deviceId: DEVICE, reason: 'kicked' }],
    [
      'a signal addressed with to instead of from',
      { type: 'signal', to: DEVICE, linkId: LINK, data: offer },
    ],
    [
      'a signal with an oversize sdp',
      {
        type: 'signal',
        from: DEVICE,
        linkId: LINK,
        data: { type: 'answer', sdp: 'a'.repeat(MAX_SDP_LENGTH + 1) },
      },
    ],
    ['an error with a numeric code', { type: 'error', code: 500, message: 'x' }],
  ]
  it.each(pushes)('a push with %s is rejected', (_, message) => {
    expect(ServerPushSchema.safeParse(message).success).toBe(false)
  })

  it('rejects an 81-character label in peer info and accepts 80', () => {
    expect(PeerInfoSchema.safeParse({ ...peer, label: 'x'.repeat(80) }).success).toBe(true)
    expect(PeerInfoSchema.safeParse({ ...peer, label: 'x'.repeat(81) }).success).toBe(false)
  })

  it('accepts up to eight ICE urls', () => {
    expect(IceServerSchema.safeParse({ urls: Array(8).fill('stun:x') }).success).toBe(true)
    expect(IceServerSchema.safeParse({ urls: Array(9).fill('stun:x') }).success).toBe(false)
  })

  it('accepts an sdp of the maximum length and rejects one more character', () => {
    const sdp = 'v'.repeat(MAX_SDP_LENGTH)
    expect(SignalDataSchema.safeParse({ type: 'answer', sdp }).success).toBe(true)
    expect(SignalDataSchema.safeParse({ type: 'answer', sdp: `${sdp}v` }).success).toBe(false)
  })
})

describe('validating anything that arrives', () => {
  it('never throws, whatever the input', () => {
    const schemas = [ClientMessageSchema, ServerReplySchema, ServerPushSchema]
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withMap: true }), (input) => {
        for (const schema of schemas) expect(typeof schema.safeParse(input).success).toBe('boolean')
      }),
      { numRuns: 300 },
    )
  })

  it('never accepts an unknown type, whatever else the message holds', () => {
    const knownTypes = new Set([
      'create-room',
      'join-room',
      'signal',
      'leave',
      'room-created',
      'welcome',
      'ok',
      'error',
      'peer-joined',
      'peer-left',
    ])
    fc.assert(
      fc.property(
        fc.string().filter((type) => !knownTypes.has(type)),
        fc.dictionary(fc.string(), fc.jsonValue()),
        (type, rest) => {
          const message = { ...rest, type }
          expect(ClientMessageSchema.safeParse(message).success).toBe(false)
          expect(ServerReplySchema.safeParse(message).success).toBe(false)
          expect(ServerPushSchema.safeParse(message).success).toBe(false)
        },
      ),
      { numRuns: 300 },
    )
  })
})
