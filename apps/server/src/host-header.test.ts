import { describe, expect, it } from 'vitest'
import { validHost } from './host-header.ts'

describe('validHost', () => {
  it.each([
    ['localhost', 'localhost'],
    ['LOCALHOST:8443', 'localhost:8443'],
    ['192.168.1.23:8080', '192.168.1.23:8080'],
    ['[::1]:8443', '[::1]:8443'],
    ['[fe80::1]', '[fe80::1]'],
    ['my-laptop.local', 'my-laptop.local'],
    ['my_laptop', 'my_laptop'],
  ])('accepts %s', (header, expected) => {
    expect(validHost(header)).toBe(expected)
  })

  it.each([
    undefined,
    '',
    'evil.com/path',
    'a@b',
    'a b',
    'a;b',
    "a'b",
    'host:',
    'host:99999',
    'host:8080:1',
    '[zz]',
    '[::1',
    '-host',
    'host\\evil',
    `${'a'.repeat(300)}`,
  ])('refuses %s', (header) => {
    expect(validHost(header)).toBeNull()
  })
})
