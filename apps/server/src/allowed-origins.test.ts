import { describe, expect, it } from 'vitest'
import { normalizeOrigin, parseAllowedOrigins } from './allowed-origins.ts'

describe('allowed origins', () => {
  it.each([
    ['https://example.org:8443', 'https://example.org:8443'],
    ['https://Example.ORG', 'https://example.org'],
    ['https://example.org:443', 'https://example.org'],
    ['http://192.168.1.23:8080/', 'http://192.168.1.23:8080'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
  ])('spells %s as a browser sends it', (value, origin) => {
    expect(normalizeOrigin(value)).toBe(origin)
  })

  it.each([
    'example.org',
    'ftp://example.org',
    'https://example.org/app',
    'https://example.org?x',
    'https://example.org/?',
    'https://example.org#',
    'https://user@example.org',
    'null',
    '*',
    '',
  ])('refuses %s', (value) => {
    expect(() => normalizeOrigin(value)).toThrow(/is not an origin; write it like https:\/\//)
  })

  it('takes the option repeated or comma separated, without duplicates', () => {
    expect(parseAllowedOrigins(undefined)).toEqual([])
    expect(parseAllowedOrigins('https://a.example, https://b.example:8443')).toEqual([
      'https://a.example',
      'https://b.example:8443',
    ])
    expect(
      parseAllowedOrigins(['https://a.example', 'https://A.example,http://c.example']),
    ).toEqual(['https://a.example', 'http://c.example'])
    expect(() => parseAllowedOrigins(true)).toThrow(/an origin is missing/)
    expect(() => parseAllowedOrigins(['https://a.example', 'https://a.example/x'])).toThrow(
      /a\.example\/x/,
    )
  })
})
