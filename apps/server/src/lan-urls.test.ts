import type { NetworkInterfaceInfo } from 'node:os'
import { describe, expect, it } from 'vitest'
import { lanAddresses, listeningUrls } from './lan-urls.ts'

function v4(address: string, internal = false): NetworkInterfaceInfo {
  return {
    address,
    family: 'IPv4',
    internal,
    netmask: '255.255.255.0',
    mac: '00:00:00:00:00:00',
    cidr: `${address}/24`,
  }
}

const interfaces = {
  lo: [v4('127.0.0.1', true)],
  docker0: [v4('169.254.3.4')],
  eth0: [
    v4('203.0.113.9'),
    {
      address: 'fe80::1',
      family: 'IPv6',
      internal: false,
      netmask: 'ffff:ffff:ffff:ffff::',
      mac: '00:00:00:00:00:00',
      cidr: 'fe80::1/64',
      scopeid: 2,
    } satisfies NetworkInterfaceInfo,
  ],
  wlan0: [v4('192.168.1.23')],
}

describe('lan urls', () => {
  it('lists reachable IPv4 addresses, private ranges first and link-local last', () => {
    expect(lanAddresses(interfaces)).toEqual(['192.168.1.23', '203.0.113.9', '169.254.3.4'])
  })

  it('prints localhost and every LAN address for a wildcard host', () => {
    expect(listeningUrls('0.0.0.0', 8080, 'http', interfaces)).toEqual({
      local: 'http://localhost:8080/',
      lan: ['http://192.168.1.23:8080/', 'http://203.0.113.9:8080/', 'http://169.254.3.4:8080/'],
    })
  })

  it('prints only the bound address for a specific host', () => {
    expect(listeningUrls('127.0.0.1', 80, 'http', interfaces)).toEqual({
      local: 'http://127.0.0.1:80/',
      lan: [],
    })
    expect(listeningUrls('192.168.1.23', 80, 'https', interfaces).lan).toEqual([
      'https://192.168.1.23:80/',
    ])
    expect(listeningUrls('::1', 80, 'http', interfaces).local).toBe('http://[::1]:80/')
  })
})
