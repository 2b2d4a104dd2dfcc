import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { byteRange } from './byte-range.ts'

const part = (start: number, end: number) => ({ kind: 'part', start, end })
const whole = { kind: 'whole' }
const unsatisfiable = { kind: 'unsatisfiable' }

describe('byteRange', () => {
  it.each([
    ['bytes=0-3', part(0, 3)],
    ['bytes=2-', part(2, 9)],
    ['bytes=2-100', part(2, 9)],
    ['bytes=-4', part(6, 9)],
    ['bytes=-100', part(0, 9)],
    ['bytes=0-0', part(0, 0)],
    ['bytes=9-9', part(9, 9)],
    ['BYTES = 1-2 ', part(1, 2)],
    ['bytes=1-2,', part(1, 2)],
    ['bytes=0-99999999999999999999', part(0, 9)],
  ])('serves %s as a part', (header, expected) => {
    expect(byteRange(header, 10)).toEqual(expected)
  })

  it.each([
    'bytes=5-2',
    'bytes=abc',
    'bytes=-0',
    'bytes=10-',
    'bytes=10-20',
    'bytes=99999999999999999999-',
    'bytes=0-1,3-4',
    'bytes=0-1, 0-1',
    'bytes=',
    'bytes=-',
    'bytes=1a-2',
    'bytes=0x1-2',
    'bytes=1-2-3',
    'bytes=+1-2',
    'bytes=1.5-2',
    'bytes',
    '=0-1',
    'by tes=0-1',
    `bytes=${'0'.repeat(200)}-1`,
  ])('refuses %s with a 416', (header) => {
    expect(byteRange(header, 10)).toEqual(unsatisfiable)
  })

  it('ignores other units and an absent header', () => {
    expect(byteRange(undefined, 10)).toEqual(whole)
    expect(byteRange('items=0-1', 10)).toEqual(whole)
  })

  it('finds nothing to serve in an empty file', () => {
    expect(byteRange('bytes=0-', 0)).toEqual(unsatisfiable)
    expect(byteRange('bytes=-1', 0)).toEqual(unsatisfiable)
  })

  it('never throws and only ever names bytes inside the file', () => {
    const header = fc.oneof(
      fc.string(),
      fc
        .tuple(fc.option(fc.nat()), fc.option(fc.nat()))
        .map(([a, b]) => `bytes=${a ?? ''}-${b ?? ''}`),
    )
    fc.assert(
      fc.property(header, fc.nat({ max: 1_000_000 }), (text, size) => {
        const range = byteRange(text, size)
        if (range.kind === 'part') {
          expect(Number.isInteger(range.start)).toBe(true)
          expect(range.start).toBeGreaterThanOrEqual(0)
          expect(range.start).toBeLessThanOrEqual(range.end)
          expect(range.end).toBeLessThan(size)
        }
      }),
    )
  })

  it('agrees with the RFC on every well-formed single range', () => {
    fc.assert(
      fc.property(fc.nat(100), fc.option(fc.nat(100)), fc.nat(50), (first, last, size) => {
        const range = byteRange(`bytes=${first}-${last ?? ''}`, size)
        const end = Math.min(last ?? size - 1, size - 1)
        const satisfiable = first < size && (last === null || last >= first)
        expect(range).toEqual(satisfiable ? part(first, end) : unsatisfiable)
      }),
    )
  })
})
