import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CODE_ALPHABET,
  DeviceIdSchema,
  formatRoomCode,
  HostKeySchema,
  normalizeRoomCode,
  RequestIdSchema,
  ResumeTokenSchema,
  ROOM_CODE_LENGTH,
  type RoomCode,
  RoomCodeSchema,
} from './ids.ts'

const codeArb: fc.Arbitrary<RoomCode> = fc
  .string({
    unit: fc.constantFrom(...CODE_ALPHABET),
    minLength: ROOM_CODE_LENGTH,
    maxLength: ROOM_CODE_LENGTH,
  })
  .map((code) => RoomCodeSchema.parse(code))

const code = RoomCodeSchema.parse('ABCD2345EFGHJ')

describe('normalizeRoomCode', () => {
  it.each([
    ['a code as issued', 'ABCD2345EFGHJ'],
    ['lower case', 'abcd2345efghj'],
    ['mixed case', 'aBcD2345eFgHj'],
    ['dashes', 'ABCD-2345-EFGHJ'],
    ['spaces', 'abcd 2345 efghj'],
    ['surrounding and repeated whitespace', '  abcd\t2345 -- efghj\n'],
  ])('accepts %s', (_, typed) => {
    expect(normalizeRoomCode(typed)).toBe('ABCD2345EFGHJ')
  })

  it.each([
    ['I and i as 1', 'IiBC-2345-EFGHJ', '11BC2345EFGHJ'],
    ['L and l as 1', 'LlBC-2345-EFGHJ', '11BC2345EFGHJ'],
    ['O and o as 0', 'OoBC-2345-EFGHJ', '00BC2345EFGHJ'],
    ['every look-alike at once', 'ilIL-oO01-ABCDE', '11110001ABCDE'],
  ])('reads %s', (_, typed, expected) => {
    expect(normalizeRoomCode(typed)).toBe(expected)
  })

  it.each([
    ['an empty string', ''],
    ['only dashes and spaces', '---- ----'],
    ['12 characters', 'ABCD2345EFGH'],
    ['14 characters', 'ABCD2345EFGHJK'],
    ['26 characters', 'ABCD2345EFGHJABCD2345EFGHJ'],
    ['a U', 'ABCD2345EFGHU'],
    ['a u', 'abcd2345efghu'],
    ['punctuation', 'ABCD.2345.EFGHJ'],
    ['an underscore', 'ABCD_2345EFGH'],
    ['a non-ASCII letter', 'ÄBCD2345EFGHJ'],
    ['a full-width digit', 'ABCD２345EFGHJ'],
  ])('rejects %s', (_, typed) => {
    expect(normalizeRoomCode(typed)).toBeNull()
  })

  it('gives back any code from its formatted, lower-case or spaced forms', () => {
    fc.assert(
      fc.property(codeArb, (roomCode) => {
        expect(normalizeRoomCode(roomCode)).toBe(roomCode)
        expect(normalizeRoomCode(formatRoomCode(roomCode))).toBe(roomCode)
        expect(normalizeRoomCode(formatRoomCode(roomCode).toLowerCase())).toBe(roomCode)
        expect(normalizeRoomCode(formatRoomCode(roomCode).replaceAll('-', ' '))).toBe(roomCode)
      }),
      { numRuns: 300 },
    )
  })

  it('reads any mix of look-alikes for 1 and 0', () => {
    const lookAlike = fc.oneof(
      fc.constantFrom(...CODE_ALPHABET).map((char) => [char, char] as const),
      fc.constantFrom('I', 'i', 'L', 'l').map((char) => [char, '1'] as const),
      fc.constantFrom('O', 'o').map((char) => [char, '0'] as const),
    )
    fc.assert(
      fc.property(
        fc.array(lookAlike, { minLength: ROOM_CODE_LENGTH, maxLength: ROOM_CODE_LENGTH }),
        (pairs) => {
          const typed = pairs.map(([char]) => char).join('')
          const expected = pairs.map(([, read]) => read).join('')
          expect(normalizeRoomCode(typed)).toBe(expected)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('returns only valid codes or null, whatever was typed', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 20 }),
          fc.string({ unit: 'grapheme', maxLength: 20 }),
          fc.string({
            unit: fc.constantFrom(...'0123456789abcdefghijklmnopqrstuvwxyzIO -'),
            maxLength: 16,
          }),
        ),
        (typed) => {
          const result = normalizeRoomCode(typed)
          if (result !== null) expect(RoomCodeSchema.safeParse(result).success).toBe(true)
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe('formatRoomCode', () => {
  it('groups a code 4-4-5', () => {
    expect(formatRoomCode(code)).toBe('ABCD-2345-EFGHJ')
  })

  it('groups every code 4-4-5 without changing its characters', () => {
    fc.assert(
      fc.property(codeArb, (roomCode) => {
        const formatted = formatRoomCode(roomCode)
        expect(formatted.split('-').map((group) => group.length)).toEqual([4, 4, 5])
        expect(formatted.replaceAll('-', '')).toBe(roomCode)
      }),
      { numRuns: 200 },
    )
  })
})

describe('room code alphabet', () => {
  it('is Crockford base32: 32 distinct characters without I, L, O or U', () => {
    expect(CODE_ALPHABET.length).toBe(32)
    expect(new Set(CODE_ALPHABET).size).toBe(32)
    for (const excluded of 'ILOU') expect(CODE_ALPHABET).not.toContain(excluded)
  })

  it('is exactly what the room code schema accepts among printable ASCII', () => {
    for (let charCode = 0x20; charCode < 0x7f; charCode++) {
      const char = String.fromCharCode(charCode)
      const candidate = char.repeat(ROOM_CODE_LENGTH)
      expect(RoomCodeSchema.safeParse(candidate).success).toBe(CODE_ALPHABET.includes(char))
    }
  })
})

describe('id schemas', () => {
  const cases: [
    string,
    { safeParse(value: unknown): { success: boolean } },
    unknown[],
    unknown[],
  ][] = [
    [
      'DeviceId',
      DeviceIdSchema,
      ['a'.repeat(8), '0'.repeat(16), 'abc123xyz'],
      ['a'.repeat(7), 'a'.repeat(17), 'ABCDEFGH', 'abcd-efg', 12345678, null],
    ],
    [
      'RequestId',
      RequestIdSchema,
      ['r', 'R'.repeat(64), 'req_1-A'],
      ['', 'r'.repeat(65), 'req 1', 'req.1', 'ré', 1],
    ],
    [
      'ResumeToken',
      ResumeTokenSchema,
      ['t'.repeat(16), 'T'.repeat(128), 'abc_DEF-0123456789'],
      ['t'.repeat(15), 't'.repeat(129), `${'t'.repeat(16)}=`, undefined],
    ],
    [
      'HostKey',
      HostKeySchema,
      ['k'.repeat(16), 'K'.repeat(128)],
      ['k'.repeat(15), 'k'.repeat(129), `${'k'.repeat(16)}+/`],
    ],
  ]

  it.each(cases)('%s accepts valid ids and rejects invalid ones', (_, schema, valid, invalid) => {
    for (const value of valid) expect(schema.safeParse(value).success, String(value)).toBe(true)
    for (const value of invalid) expect(schema.safeParse(value).success, String(value)).toBe(false)
  })
})
