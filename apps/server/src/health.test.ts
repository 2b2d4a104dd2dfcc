import type { IncomingMessage } from 'node:http'
import { PROTOCOL_VERSION, RoomCodeSchema } from '@cohort/protocol'
import { describe, expect, it } from 'vitest'
import { type HealthAudience, health, healthAudience } from './health.ts'
import { TokenIssuer } from './tokens.ts'

const tokens = new TokenIssuer(Buffer.alloc(32, 7))
const room = RoomCodeSchema.parse('ABCD2345EFGHJ')
const other = RoomCodeSchema.parse('ABCD2345EFGHK')
const verify = (code: typeof room, key: string) => tokens.verifyHostKey(code, key)

function request(remoteAddress: string, headers: Record<string, string> = {}): IncomingMessage {
  return { socket: { remoteAddress }, headers } as unknown as IncomingMessage
}

describe('healthAudience', () => {
  it.each(['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1'])(
    'counts %s as this machine',
    (address) => {
      expect(healthAudience(request(address), verify)).toBe('operator')
    },
  )

  it.each(['192.168.1.5', '10.0.0.1', '::ffff:192.168.1.5', 'fe80::1', '128.0.0.1', '::'])(
    'counts %s as anyone',
    (address) => {
      expect(healthAudience(request(address), verify)).toBe('anyone')
    },
  )

  it('does not trust a proxy on this machine that forwards someone else', () => {
    for (const header of ['forwarded', 'x-forwarded-for', 'x-real-ip']) {
      expect(healthAudience(request('127.0.0.1', { [header]: '203.0.113.9' }), verify)).toBe(
        'anyone',
      )
    }
  })

  it('recognises a host by the key of its room', () => {
    const shown = `${room}:${tokens.hostKey(room)}`
    expect(healthAudience(request('192.168.1.5', { 'x-cohort-host-key': shown }), verify)).toBe(
      'host',
    )
  })

  it.each([
    ['another room', () => `${other}:${tokens.hostKey(room)}`],
    ['a forged key', () => `${room}:${'A'.repeat(43)}`],
    ['no room', () => `${tokens.hostKey(room)}`],
    ['a lower-case room', () => `${room.toLowerCase()}:${tokens.hostKey(room)}`],
    ['garbage', () => ':::'],
    ['nothing', () => ''],
  ])('refuses %s', (_what, shown) => {
    const req = request('192.168.1.5', { 'x-cohort-host-key': shown() })
    expect(healthAudience(req, verify)).toBe('anyone')
  })
})

describe('health', () => {
  const report = (audience: HealthAudience) =>
    health(audience, { rooms: 2, members: 5 }, 1_000, 62_500, ['http://192.168.1.5:8080'])

  it('tells anyone only that it is alive', () => {
    expect(report('anyone')).toEqual({ ok: true, uptimeS: 61, protocolVersion: PROTOCOL_VERSION })
  })

  it('tells a host where phones can reach it, and the operator everything', () => {
    expect(report('host')).toEqual({
      ok: true,
      uptimeS: 61,
      protocolVersion: PROTOCOL_VERSION,
      joinOrigins: ['http://192.168.1.5:8080'],
    })
    expect(report('operator')).toEqual({
      ok: true,
      uptimeS: 61,
      protocolVersion: PROTOCOL_VERSION,
      rooms: 2,
      members: 5,
      joinOrigins: ['http://192.168.1.5:8080'],
      memory: {
        rssBytes: expect.any(Number),
        heapUsedBytes: expect.any(Number),
        heapTotalBytes: expect.any(Number),
        externalBytes: expect.any(Number),
      },
    })
  })
})
