import { describe, expect, it } from 'vitest'
import { memberName } from './member-names.ts'

describe('memberName', () => {
  it('is the same name for the same id, two capitalised words', () => {
    const name = memberName('k3q9m2xabc', new Set())
    expect(name).toBe(memberName('k3q9m2xabc', new Set()))
    expect(name).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/)
  })

  it('takes the next candidate when the first is taken in the room', () => {
    const first = memberName('k3q9m2xabc', new Set())
    const next = memberName('k3q9m2xabc', new Set([first]))
    expect(next).not.toBe(first)
    expect(next).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/)
  })

  it('gives a room of 200 members 200 different names', () => {
    const taken = new Set<string>()
    for (let i = 0; i < 200; i++) taken.add(memberName(`device${i}`, taken))
    expect(taken.size).toBe(200)
  })
})
