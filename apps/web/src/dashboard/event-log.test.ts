import { describe, expect, it } from 'vitest'
import { EventLog } from './event-log.ts'

describe('EventLog', () => {
  it('keeps the newest lines first, at most `limit` of them', () => {
    let now = 0
    const log = new EventLog(3, () => ++now)
    for (const name of ['a', 'b', 'c', 'd']) log.add('join', name)
    expect(log.entries().map((line) => [line.text, line.at])).toEqual([
      ['d', 4],
      ['c', 3],
      ['b', 2],
    ])
  })

  it('merges repeats with the same key into the newest line', () => {
    let now = 0
    const log = new EventLog(10, () => ++now)
    log.add('degraded', 'sample 1', 'run-1:slice-0')
    log.add('degraded', 'sample 2', 'run-1:slice-0')
    expect(log.entries()).toHaveLength(1)
    expect(log.entries()[0]).toMatchObject({ text: 'sample 2', count: 2, at: 2, kind: 'degraded' })
    // A merge is a change too: the view shows the new count.
    expect(log.version).toBe(2)
  })

  it('starts a new line when something else happened in between, or without a key', () => {
    const log = new EventLog()
    log.add('degraded', 'sample 1', 'k')
    log.add('replan', 'plan v2')
    log.add('degraded', 'sample 3', 'k')
    log.add('join', 'x')
    log.add('join', 'y')
    expect(log.entries().map((line) => [line.kind, line.count])).toEqual([
      ['join', 1],
      ['join', 1],
      ['degraded', 1],
      ['replan', 1],
      ['degraded', 1],
    ])
    expect(new Set(log.entries().map((line) => line.id)).size).toBe(5)
  })
})
