import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os'

/** The URLs to print: one for this machine, one per LAN address phones can reach. */
export interface ListeningUrls {
  readonly local: string
  readonly lan: readonly string[]
}

const WILDCARDS = new Set(['0.0.0.0', '::', ''])

/** Non-loopback IPv4 addresses, private ranges first and link-local (169.254/16) last. */
export function lanAddresses(
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  const addresses = Object.values(interfaces)
    .flatMap((infos) => infos ?? [])
    .filter((info) => info.family === 'IPv4' && !info.internal)
    .map((info) => info.address)
  return [...new Set(addresses)].sort((a, b) => rank(a) - rank(b))
}

function rank(address: string): number {
  if (/^(?:192\.168\.|10\.|172\.(?:1[6-9]|2\d|3[01])\.)/.test(address)) return 0
  if (address.startsWith('169.254.')) return 2
  return 1
}

/** Whether `host` means every interface. */
export function isWildcardHost(host: string): boolean {
  return WILDCARDS.has(host)
}

/** How the server can be reached when it listens on `host`:`port`. */
export function listeningUrls(
  host: string,
  port: number,
  protocol: 'http' | 'https' = 'http',
  interfaces?: NodeJS.Dict<NetworkInterfaceInfo[]>,
): ListeningUrls {
  if (WILDCARDS.has(host)) {
    return {
      local: `${protocol}://localhost:${port}/`,
      lan: lanAddresses(interfaces).map((address) => `${protocol}://${address}:${port}/`),
    }
  }
  const url = `${protocol}://${host.includes(':') ? `[${host}]` : host}:${port}/`
  const loopback = host === 'localhost' || host.startsWith('127.') || host === '::1'
  return { local: url, lan: loopback ? [] : [url] }
}
