import QRCode from 'qrcode'
import { listeningUrls } from './lan-urls.ts'

/** The line tests and benchmarks wait for when they spawn the server with `--port 0`. */
export const LISTENING_MARKER = 'COHORT_LISTENING'

/** What the banner describes. */
export interface BannerInput {
  readonly host: string
  readonly port: number
  readonly protocol: 'http' | 'https'
  /** The machine-readable URL (a numeric loopback address, never `localhost`). */
  readonly url: string
  readonly dev: boolean
  readonly selfSigned: boolean
}

/** The startup text: URLs for people, a QR code for phones, one line for programs. */
export async function banner(input: BannerInput): Promise<string> {
  const urls = listeningUrls(input.host, input.port, input.protocol)
  const lines = [
    '',
    `  Cohort is running${input.dev ? ' (dev: Vite with hot reload)' : ''}`,
    '',
    `  Local:    ${urls.local}`,
    ...urls.lan.map((lan) => `  Network:  ${lan}`),
  ]
  const first = urls.lan[0]
  if (first) {
    lines.push('', `  Scan to open ${first} on a phone on the same network:`, '')
    lines.push(await QRCode.toString(first, { type: 'terminal', small: true }))
  } else {
    lines.push('', '  No LAN address: only this machine can join (--host 0.0.0.0 listens on all).')
  }
  if (input.selfSigned) {
    lines.push('', '  The certificate is self-signed: each browser asks once to proceed.')
  } else if (input.protocol === 'http' && first) {
    lines.push(
      '',
      '  Phones get threads and WebGPU only in a secure context: add --https if they need them.',
    )
  }
  lines.push('', `${LISTENING_MARKER} ${input.url}`)
  return lines.join('\n')
}
