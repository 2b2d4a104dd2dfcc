import { describe, expect, it } from 'vitest'
import { isAllowedOrigin } from './origin-check.ts'

describe('isAllowedOrigin', () => {
  const none = new Set<string>()

  it('allows pages of this server only', () => {
    expect(isAllowedOrigin('http://192.168.1.20:8080', '192.168.1.20:8080', none)).toBe(true)
    expect(isAllowedOrigin('https://Cohort.Example', 'cohort.example', none)).toBe(false)
    expect(isAllowedOrigin('https://cohort.example', 'COHORT.example', none)).toBe(true)
    expect(isAllowedOrigin('http://evil.example', '192.168.1.20:8080', none)).toBe(false)
    expect(isAllowedOrigin('http://192.168.1.20:8081', '192.168.1.20:8080', none)).toBe(false)
    expect(isAllowedOrigin('http://192.168.1.20:8080', undefined, none)).toBe(false)
  })

  it('refuses opaque and odd origins', () => {
    expect(isAllowedOrigin('null', 'localhost:8080', none)).toBe(false)
    expect(isAllowedOrigin('file://', 'localhost:8080', none)).toBe(false)
    expect(isAllowedOrigin('chrome-extension://abc', 'abc', none)).toBe(false)
    expect(isAllowedOrigin('http://localhost:8080/path', 'localhost:8080', none)).toBe(false)
  })

  it('allows what the operator listed', () => {
    const allowed = new Set(['https://app.example.org'])
    expect(isAllowedOrigin('https://app.example.org', 'cohort.lan:8080', allowed)).toBe(true)
    expect(isAllowedOrigin('https://other.example.org', 'cohort.lan:8080', allowed)).toBe(false)
  })
})
