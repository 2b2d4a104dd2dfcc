import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import { validHost } from './host-header.ts'

/** The first byte of every TLS connection: a handshake record. */
const TLS_HANDSHAKE = 0x16

/** How long a new connection may stay silent before it is closed (nobody opens one to wait). */
export const FIRST_BYTE_TIMEOUT_MS = 10_000

/** How long a plain-http connection lives: enough for one redirect, too short to hold a socket. */
export const PLAIN_HTTP_LIFETIME_MS = 10_000

/** How long connections may wait; the defaults above unless a test needs them short. */
export interface PlainHttpTimeouts {
  readonly firstByteMs: number
  readonly plainLifetimeMs: number
}

/** Plain-http connections on an HTTPS port, which close() ends at once. */
export interface PlainHttp {
  /** Destroys every connection still silent or speaking plain http. */
  closeAll(): void
}

/**
 * Lets the HTTPS server's port answer plain `http://` too, instead of an empty reply: each
 * connection's first byte says which it is (TLS starts with a handshake record, HTTP with a
 * method name). TLS goes on to the server as before, so socket.io, Vite and close() see no
 * difference; anything else meets an HTTP server that redirects every request to https.
 */
export function acceptPlainHttp(
  server: HttpsServer,
  headers: (req: IncomingMessage) => Record<string, string>,
  timeouts: PlainHttpTimeouts = {
    firstByteMs: FIRST_BYTE_TIMEOUT_MS,
    plainLifetimeMs: PLAIN_HTTP_LIFETIME_MS,
  },
): PlainHttp {
  // It never listens, so its own request timeouts never start: each connection gets a lifetime.
  const redirector = createServer((req, res) => redirectToHttps(req, res, headers(req)))
  const plain = new Set<Socket>()

  // tls.Server wraps each socket in TLS as soon as it connects; it must wait for the first byte.
  // (So this runs before anyone else listens for connections.)
  const startTls = server.listeners('connection') as ((socket: Socket) => void)[]
  server.removeAllListeners('connection')
  server.on('connection', (socket: Socket) => {
    plain.add(socket)
    socket.once('close', () => plain.delete(socket))
    // Nobody else listens yet: a reset before the first byte must not become an uncaught error.
    socket.on('error', () => socket.destroy())
    socket.setTimeout(timeouts.firstByteMs, () => socket.destroy())
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0)
      socket.pause()
      socket.unshift(chunk)
      if (chunk[0] === TLS_HANDSHAKE) {
        plain.delete(socket)
        // TLSSocket reads what was unshifted itself; resuming here would drop it on the floor.
        for (const listener of startTls) listener.call(server, socket)
        return
      }
      const lifetime = setTimeout(() => socket.destroy(), timeouts.plainLifetimeMs)
      socket.once('close', () => clearTimeout(lifetime))
      redirector.emit('connection', socket)
      socket.resume()
    })
  })

  return {
    closeAll() {
      for (const socket of plain) socket.destroy()
    },
  }
}

/**
 * Answers a plain-http request with a redirect to the same URL over https, or a 400 when its Host
 * is missing or not a plain `host[:port]` (it becomes the Location). The redirect is temporary
 * and uncached: the same port serves plain http again when started without --https.
 */
export function redirectToHttps(
  req: IncomingMessage,
  res: ServerResponse,
  headers: Record<string, string>,
): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
  res.setHeader('Connection', 'close')
  res.setHeader('Cache-Control', 'no-store')
  res.setHeader('Content-Type', 'text/plain; charset=utf-8')
  const host = validHost(req.headers.host)
  if (host === null) {
    res.statusCode = 400
    res.end('This port speaks https; send a Host header of the form host[:port].\n')
    return
  }
  // Origin-form only: an absolute-form or `*` target is not a path to keep.
  const path = req.url?.startsWith('/') ? req.url : '/'
  const location = `https://${host}${path}`
  try {
    res.setHeader('Location', location)
  } catch {
    // The parser lets some bytes through that a header may not carry.
    res.statusCode = 400
    res.end('The request target is not a valid URL.\n')
    return
  }
  res.statusCode = 307
  res.end(`This port speaks https: ${location}\n`)
}
