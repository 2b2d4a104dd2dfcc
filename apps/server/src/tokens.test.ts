import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeviceIdSchema, type RoomCode, RoomCodeSchema } from '@cohort/protocol'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  createDeviceId,
  createRoomCode,
  loadOrCreateSecret,
  SECRET_FILE,
  TokenIssuer,
} from './tokens.ts'

const room = (code: string) => RoomCodeSchema.parse(code)
const device = (id: string) => DeviceIdSchema.parse(id)

describe('ids', () => {
  it('makes valid, distinct room codes that use the whole alphabet', () => {
    const codes = new Set<RoomCode>()
    for (let i = 0; i < 2_000; i++) codes.add(createRoomCode())
    expect(codes.size).toBe(2_000)
    for (const code of codes) expect(RoomCodeSchema.safeParse(code).success).toBe(true)
    const characters = new Set([...codes].join(''))
    expect(characters.size).toBe(32)
  })

  it('makes valid, distinct device ids', () => {
    const ids = new Set(Array.from({ length: 2_000 }, createDeviceId))
    expect(ids.size).toBe(2_000)
    for (const id of ids) expect(id).toMatch(/^[0-9a-z]{10}$/)
  })
})

describe('TokenIssuer', () => {
  const issuer = new TokenIssuer(Buffer.alloc(32, 7))
  const a = room('0123456789ABC')
  const b = room('0123456789ABD')

  it('issues host keys that verify only for their room', () => {
    const key = issuer.hostKey(a)
    expect(key).toMatch(/^[0-9A-Za-z_-]{43}$/)
    expect(issuer.verifyHostKey(a, key)).toBe(true)
    expect(issuer.verifyHostKey(b, key)).toBe(false)
    expect(issuer.verifyHostKey(a, `${key.slice(0, -1)}x`)).toBe(false)
    expect(issuer.verifyHostKey(a, key.slice(1))).toBe(false)
    expect(issuer.verifyHostKey(a, '')).toBe(false)
  })

  it('issues resume tokens that prove a device id in one room only', () => {
    const id = device('abcdef0123')
    const token = issuer.resumeToken(a, id)
    expect(token.startsWith(id)).toBe(true)
    expect(issuer.verifyResumeToken(a, token)).toMatchObject({ valid: true, deviceId: id })
    expect(issuer.verifyResumeToken(b, token)).toEqual({ valid: false, why: 'forged' })
    // Another id with the first one's MAC must not verify.
    const forged = { valid: false, why: 'forged' }
    expect(issuer.verifyResumeToken(a, `abcdef0124${token.slice(10)}`)).toEqual(forged)
    expect(issuer.verifyResumeToken(a, token.slice(0, -1))).toEqual(forged)
    expect(issuer.verifyResumeToken(a, 'short')).toEqual(forged)
    expect(issuer.verifyResumeToken(a, `${'A'.repeat(10)}${token.slice(10)}`)).toEqual(forged)
  })

  it('lets a resume token expire a lifetime after it was issued, and binds its issue time', () => {
    let clock = Date.UTC(2026, 11, 2)
    const timed = new TokenIssuer(Buffer.alloc(32, 7), () => clock, 60_000)
    const id = device('abcdef0123')
    const token = timed.resumeToken(a, id)
    clock += 59_000
    expect(timed.verifyResumeToken(a, token)).toMatchObject({ valid: true, deviceId: id })
    clock += 1_000
    expect(timed.verifyResumeToken(a, token)).toEqual({ valid: false, why: 'expired' })
    // Moving the issue time forward breaks the MAC: a token cannot be made younger.
    const issuedAt = token.slice(10, 17)
    const younger = (Number.parseInt(issuedAt, 36) + 60).toString(36).padStart(7, '0')
    const tampered = `${token.slice(0, 10)}${younger}${token.slice(17)}`
    expect(timed.verifyResumeToken(a, tampered)).toEqual({ valid: false, why: 'forged' })
  })

  it('host keys and resume tokens are different things', () => {
    const key = issuer.hostKey(a)
    expect(issuer.verifyResumeToken(a, key)).toEqual({ valid: false, why: 'forged' })
  })

  it('depends on the secret', () => {
    const other = new TokenIssuer(Buffer.alloc(32, 8))
    expect(other.verifyHostKey(a, issuer.hostKey(a))).toBe(false)
    expect(() => new TokenIssuer(Buffer.alloc(8))).toThrow(/at least 16 bytes/)
  })
})

describe('loadOrCreateSecret', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cohort-tokens-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('creates a private secret once and reads the same one back', () => {
    const stateDir = join(dir, 'nested', '.cohort')
    const first = loadOrCreateSecret(stateDir)
    expect(first.length).toBe(32)
    expect(statSync(join(stateDir, SECRET_FILE)).mode & 0o777).toBe(0o600)
    expect(loadOrCreateSecret(stateDir).equals(first)).toBe(true)
    expect(readFileSync(join(stateDir, SECRET_FILE), 'utf8').trim()).toBe(first.toString('hex'))
  })

  it('prefers a secret from the environment', () => {
    const secret = loadOrCreateSecret(dir, 'a shared secret for two processes')
    expect(secret.toString()).toBe('a shared secret for two processes')
    expect(() => loadOrCreateSecret(dir, 'short')).toThrow(/at least 16/)
  })

  it('refuses a corrupt secret file instead of silently replacing it', () => {
    writeFileSync(join(dir, SECRET_FILE), 'not hex at all')
    expect(() => loadOrCreateSecret(dir)).toThrow(/not a hex secret/)
  })
})
