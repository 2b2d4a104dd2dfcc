import { describe, expect, it } from 'vitest'
import { ThrottledLog } from './throttled-log.ts'

describe('ThrottledLog', () => {
  it('says the first event at once and sums up the rest once per interval', () => {
    let clock = 0
    const lines: string[] = []
    const log = new ThrottledLog(
      (line) => lines.push(line),
      () => clock,
      1_000,
    )
    for (let i = 0; i < 500; i++) log.log('flood', `bad message ${i}`)
    log.log('other', 'something else')
    expect(lines).toEqual(['bad message 0', 'something else'])
    clock = 1_000
    log.log('flood', 'bad message 500')
    expect(lines.at(-1)).toBe('bad message 500 (and 499 more like it)')
    clock = 5_000
    log.log('flood', 'bad message 501')
    expect(lines.at(-1)).toBe('bad message 501')
  })

  it('holds a bounded number of keys', () => {
    const lines: string[] = []
    const log = new ThrottledLog(
      (line) => lines.push(line),
      () => 0,
      1_000,
      10,
    )
    for (let i = 0; i < 1_000; i++) log.log(`key ${i}`, `line ${i}`)
    // The oldest keys were forgotten, so they are logged again rather than held forever.
    log.log('key 0', 'again')
    expect(lines.at(-1)).toBe('again')
  })
})
