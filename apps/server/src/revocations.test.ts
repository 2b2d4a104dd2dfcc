import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeviceIdSchema, RoomCodeSchema } from '@cohort/protocol'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MAX_REVOCATIONS, REVOCATIONS_FILE, Revocations } from './revocations.ts'

const A = RoomCodeSchema.parse('0123456789ABC')
const B = RoomCodeSchema.parse('0123456789ABD')
const phone = DeviceIdSchema.parse('abcdef0123')

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cohort-revocations-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('Revocations', () => {
  it('keeps removed devices, banned addresses and ended rooms across a restart', () => {
    let clock = 1_000
    const first = new Revocations(dir, () => clock)
    first.revokeDevice(A, phone, 5_000)
    first.banAddress(A, '10.0.0.9')
    first.endRoom(B)
    expect(statSync(join(dir, REVOCATIONS_FILE)).mode & 0o777).toBe(0o600)

    const second = new Revocations(dir, () => clock)
    expect(second.isDeviceRevoked(A, phone)).toBe(true)
    expect(second.isDeviceRevoked(B, phone)).toBe(false)
    expect(second.isAddressBanned(A, '10.0.0.9')).toBe(true)
    expect(second.isAddressBanned(B, '10.0.0.9')).toBe(false)
    expect(second.isEnded(B)).toBe(true)
    expect(second.isEnded(A)).toBe(false)
    // Once every token it could hold has expired, a revocation is moot.
    clock = 5_000
    expect(second.isDeviceRevoked(A, phone)).toBe(false)
  })

  it('forgets an ended room’s bans, and stays bounded', () => {
    const list = new Revocations(null, () => 0)
    list.revokeDevice(A, phone, 10)
    list.banAddress(A, '10.0.0.9')
    list.endRoom(A)
    expect(list.isDeviceRevoked(A, phone)).toBe(false)
    expect(list.isAddressBanned(A, '10.0.0.9')).toBe(false)
    expect(list.isEnded(A)).toBe(true)
    for (let i = 0; i <= MAX_REVOCATIONS; i++)
      list.banAddress(B, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`)
    expect(list.isAddressBanned(B, '10.0.0.0')).toBe(false)
    expect(list.isAddressBanned(B, '10.1.134.160')).toBe(true)
  })

  it('refuses to start from a damaged list rather than forget its bans', () => {
    writeFileSync(join(dir, REVOCATIONS_FILE), '{"version":1,"devices":"oops"}')
    expect(() => new Revocations(dir)).toThrow(/not a Cohort revocation list.*deleting it lets/)
    writeFileSync(join(dir, REVOCATIONS_FILE), 'not json')
    expect(() => new Revocations(dir)).toThrow(/not a Cohort revocation list/)
    expect(readFileSync(join(dir, REVOCATIONS_FILE), 'utf8')).toBe('not json')
  })
})
