import { isIPv4, isIPv6 } from 'node:net'

/**
 * Where a client connects from, as the limits count it: an IPv4 address, or the /64 prefix of an
 * IPv6 address (one host is usually handed a whole /64, so counting single IPv6 addresses would
 * let one machine look like 2^64 clients). IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown'
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped?.[1]) return mapped[1]
  if (isIPv4(address)) return address
  if (!isIPv6(address)) return address
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`
}

/** Whether `address` is this machine's loopback (127.0.0.0/8 or ::1, mapped or not). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false
  const v4 = /^(?:::ffff:)?(\d+)\.\d+\.\d+\.\d+$/i.exec(address)
  if (v4) return v4[1] === '127'
  return isIPv6(address) && expandIPv6(address).join(':') === '0:0:0:0:0:0:0:1'
}

/** The eight hextets of an IPv6 address (without a zone), leading zeros dropped. */
function expandIPv6(address: string): string[] {
  const [head = '', tail] = address.split('%')[0]?.split('::') ?? []
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const missing = 8 - left.length - right.length
  const groups = [...left, ...Array.from({ length: Math.max(0, missing) }, () => '0'), ...right]
  return groups.map((group) => (Number.parseInt(group, 16) || 0).toString(16))
}
