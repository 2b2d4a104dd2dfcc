import { describe, expect, it } from 'vitest'
import { addressKey, isLoopback } from './client-address.ts'

describe('addressKey', () => {
  it('counts IPv4 and IPv4-mapped IPv6 as the same client', () => {
    expect(addressKey('10.1.2.3')).toBe('10.1.2.3')
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3')
    expect(addressKey('::FFFF:10.1.2.3')).toBe('10.1.2.3')
  })

  it('counts a whole IPv6 /64 as one client, however it is written', () => {
    const key = addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')
    expect(key).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8:1:2::1')).toBe(key)
    expect(addressKey('2001:0db8:0001:0002:0:0:0:9')).toBe(key)
    expect(addressKey('2001:db8:1:3::1')).not.toBe(key)
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
  })

  it('names an unknown address instead of failing', () => {
    expect(addressKey(undefined)).toBe('unknown')
    expect(addressKey('')).toBe('unknown')
  })
})

describe('isLoopback', () => {
  it('knows this machine’s addresses, mapped or not', () => {
    for (const address of [
      '127.0.0.1',
      '127.9.8.7',
      '::1',
      '::ffff:127.0.0.1',
      '0:0:0:0:0:0:0:1',
    ]) {
      expect(isLoopback(address)).toBe(true)
    }
    for (const address of ['10.0.0.1', '::ffff:10.0.0.1', '::2', '1.127.0.0', undefined]) {
      expect(isLoopback(address)).toBe(false)
    }
  })
})
