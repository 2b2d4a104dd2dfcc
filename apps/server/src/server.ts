import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { IceServer } from '@cohort/protocol'
import { normalizeOrigin } from './allowed-origins.ts'
import { clientLimits, type LimitOverrides } from './client-limits.ts'
import { type AnyHttpServer, createCoordinator } from './coordinator.ts'
import { HEALTH_PATH, health, healthAudience, sendHealth } from './health.ts'
import { validHost } from './host-header.ts'
import { listeningUrls } from './lan-urls.ts'
import { ManifestCatalog } from './manifest-catalog.ts'
import { acceptPlainHttp, type PlainHttp } from './plain-http.ts'
import { Revocations } from './revocations.ts'
import { DEFAULT_ROOM_LIMITS, RoomRegistry } from './rooms.ts'
import { securityHeaders } from './security-headers.ts'
import {
  createOwnModelFiles,
  createStaticFiles,
  pathnameOf,
  type RequestHandler,
  sendText,
} from './static-files.ts'
import type { TlsCredentials } from './tls.ts'
import { loadOrCreateSecret, TokenIssuer } from './tokens.ts'

/** The repository root, for the defaults that live in it. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** How long close() waits for clients to finish their goodbyes before cutting them off. */
const CLOSE_GRACE_MS = 2_000

/** Time a client has to send a request's headers (Node's default is 60 s): slow-loris defence. */
export const HEADERS_TIMEOUT_MS = 15_000

/** Time a client has to send a whole request; ours are small (a polling POST is at most 64 KiB). */
export const REQUEST_TIMEOUT_MS = 30_000

/** Time a client has to finish the TLS handshake (Node's default is 120 s). */
export const HANDSHAKE_TIMEOUT_MS = 10_000

/** The task rooms serve by default: Fashion-MNIST, hard enough for exits and ensembles to matter. */
export const DEFAULT_TASK = 'fashion'

/** Joins, leaves and profiles arriving together become one plan (the promise is re-forming within 2 s). */
export const DEFAULT_REPLAN_DEBOUNCE_MS = 200

/** How to run a server; every field has a default that suits `npm start`. */
export interface ServerOptions {
  /** Port to listen on; 0 picks a free one (tests, benchmarks). Default 8080. */
  readonly port?: number | undefined
  /** Interface to listen on. Default 0.0.0.0, so phones on the LAN can connect. */
  readonly host?: string | undefined
  /** The built web app. Default `<repo>/dist/web`. Ignored with `dev`. */
  readonly staticDir?: string | undefined
  /** Where the token secret is persisted. Default `<repo>/.cohort`. */
  readonly stateDir?: string | undefined
  /** A secret to use instead of the state dir's (COHORT_SECRET); at least 16 characters. */
  readonly secret?: string | undefined
  /** Serve HTTPS with this certificate (phones on a LAN need it for a secure context). */
  readonly tls?: TlsCredentials | undefined
  /** Serve apps/web through Vite in middleware mode (hot reload) instead of the built files. */
  readonly dev?: boolean | undefined
  /** STUN/TURN servers handed to devices in the welcome. Default none: LAN host candidates. */
  readonly iceServers?: readonly IceServer[] | undefined
  /** Members per room. Default 64. */
  readonly maxRoomSize?: number | undefined
  /** Rooms held at once. Default 10 000. */
  readonly maxRooms?: number | undefined
  /** How long an empty room is kept. Default 10 minutes. */
  readonly emptyRoomGraceMs?: number | undefined
  /** How often empty rooms are swept. Default one minute (or the grace period if shorter). */
  readonly sweepIntervalMs?: number | undefined
  /** The budgets clients meet (messages, joins, sockets, seats); defaults in client-limits.ts. */
  readonly limits?: LimitOverrides | undefined
  /**
   * Origins besides the server's own whose pages may open sockets (`--allow-origin`), like
   * `https://example.org:8443`; normalized as browsers send them, anything else is an error.
   */
  readonly allowedOrigins?: readonly string[] | undefined
  /** How long a resume token proves its device. Default a day. */
  readonly resumeTokenLifetimeMs?: number | undefined
  /** Where the tasks' manifests are read for planning. Default `<repo>/public/models`. */
  readonly modelsDir?: string | undefined
  /**
   * Your own models: a folder laid out like public/ (`models/<task>/manifest.json` and the files
   * it names). Its files are served before the app's, and its tasks are planned before the shipped ones.
   */
  readonly ownModelsDir?: string | undefined
  /** The task a new room serves until its host picks one. Default `fashion`. */
  readonly defaultTask?: string | undefined
  /** Quiet time before changes in a room become one replan. Default 200 ms. */
  readonly replanDebounceMs?: number | undefined
  /** The clock, injectable so tests never sleep. */
  readonly now?: (() => number) | undefined
  /** Where log lines go. Default stdout with a `[cohort]` prefix. */
  readonly log?: ((line: string) => void) | undefined
}

/** A listening server. */
export interface RunningServer {
  /** Base URL without a trailing slash, reachable from this machine (e.g. http://127.0.0.1:8080). */
  readonly url: string
  /** `http` or `https`. */
  readonly protocol: 'http' | 'https'
  /** The port actually bound (useful with port 0). */
  readonly port: number
  /** The interface bound. */
  readonly host: string
  /** Live room and member counts. */
  stats(): { rooms: number; members: number }
  /** Disconnects every socket, stops every timer and closes the port. */
  close(): Promise<void>
}

/** Starts the coordinator: static app (or Vite), health endpoint and socket.io on one port. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const now = options.now ?? Date.now
  const log = options.log ?? logToStdout
  const host = options.host ?? '0.0.0.0'
  const limits = {
    maxMembers: options.maxRoomSize ?? DEFAULT_ROOM_LIMITS.maxMembers,
    maxRooms: options.maxRooms ?? DEFAULT_ROOM_LIMITS.maxRooms,
    emptyRoomGraceMs: options.emptyRoomGraceMs ?? DEFAULT_ROOM_LIMITS.emptyRoomGraceMs,
  }
  const stateDir = options.stateDir ?? join(REPO_ROOT, '.cohort')
  const allowedOrigins = (options.allowedOrigins ?? []).map(normalizeOrigin)
  const secret = loadOrCreateSecret(stateDir, options.secret)
  const tokens = new TokenIssuer(secret, now, options.resumeTokenLifetimeMs)
  const revocations = new Revocations(stateDir, now)
  const registry = new RoomRegistry(limits, now)
  const startedAt = now()
  // Where phones can reach this server; known once the port is bound.
  let joinOrigins: readonly string[] = []

  // Replaced before the port opens; the placeholder only keeps the type honest.
  let app: RequestHandler = (_req, res) => sendText(res, 503, 'Starting.\n')
  const headersFor = (req: IncomingMessage) =>
    securityHeaders({ host: validHost(req.headers.host), secure: !!options.tls, dev: options.dev })
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    try {
      if (pathnameOf(req) !== HEALTH_PATH) {
        app(req, res)
      } else if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD')
        sendText(res, 405, 'Health is read with GET or HEAD.\n')
      } else {
        const audience = healthAudience(req, (room, key) => tokens.verifyHostKey(room, key))
        sendHealth(res, health(audience, registry.stats(), startedAt, now(), joinOrigins))
      }
    } catch (error) {
      log(`request ${req.method} ${req.url} failed: ${String(error)}`)
      if (!res.headersSent) sendText(res, 500, 'Internal error.\n')
      else res.destroy()
    }
  }
  const protocol = options.tls ? 'https' : 'http'
  const timeouts = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }
  let plainHttp: PlainHttp | undefined
  let httpServer: AnyHttpServer
  if (options.tls) {
    const { cert, key } = options.tls
    const httpsServer = createHttpsServer(
      { cert, key, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, ...timeouts },
      onRequest,
    )
    // Before anything else listens for its connections: it holds them until their first byte.
    plainHttp = acceptPlainHttp(httpsServer, headersFor)
    httpServer = httpsServer
  } else {
    httpServer = createServer(timeouts, onRequest)
  }

  const coordinator = createCoordinator(httpServer, {
    registry,
    catalog: new ManifestCatalog(
      [
        ...(options.ownModelsDir ? [join(options.ownModelsDir, 'models')] : []),
        options.modelsDir ?? join(REPO_ROOT, 'public', 'models'),
      ],
      log,
    ),
    replanDebounceMs: options.replanDebounceMs ?? DEFAULT_REPLAN_DEBOUNCE_MS,
    defaultTask: options.defaultTask ?? DEFAULT_TASK,
    tokens,
    revocations,
    iceServers: options.iceServers ?? [],
    limits: clientLimits(options.limits),
    allowedOrigins,
    // Never spin: a zero grace period still sweeps at most once a second.
    sweepIntervalMs: Math.max(
      1_000,
      options.sweepIntervalMs ?? Math.min(60_000, limits.emptyRoomGraceMs),
    ),
    sharedUpgrades: options.dev === true,
    now,
    log,
  })

  // engine.io takes 'request' over and answers its own errors past its 'headers' hook: the
  // security headers go on every response before anyone (engine.io, the app) starts one.
  httpServer.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    for (const [name, value] of Object.entries(headersFor(req))) res.setHeader(name, value)
  })

  // Every TCP connection, so that close() can cut the ones that do not say goodbye in time.
  const connections = new Set<Socket>()
  httpServer.on('connection', (socket: Socket) => {
    connections.add(socket)
    socket.once('close', () => connections.delete(socket))
  })

  let closeVite = async (): Promise<void> => undefined
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const closed = once(httpServer, 'close')
      // Stop accepting first: clients reconnect at once and must not find the door open.
      httpServer.close()
      // In-flight responses (a model download) end now; WebSockets get a proper close below.
      httpServer.closeAllConnections()
      plainHttp?.closeAll()
      const force = setTimeout(() => {
        for (const socket of connections) socket.destroy()
      }, CLOSE_GRACE_MS)
      try {
        await closeVite()
        await coordinator.close()
        // Emitted once the last connection is gone.
        await closed
      } finally {
        clearTimeout(force)
      }
    })()
    return closing
  }

  try {
    if (options.dev) {
      const vite = await startVite(httpServer)
      closeVite = () => vite.close()
      app = (req, res) => {
        vite.middlewares(req, res, () => sendText(res, 404, `Not found: ${pathnameOf(req)}\n`))
      }
    } else {
      app = createStaticFiles(options.staticDir ?? join(REPO_ROOT, 'dist', 'web'), log)
    }
    if (options.ownModelsDir) app = createOwnModelFiles(options.ownModelsDir, log, app)
    await listen(httpServer, options.port ?? 8080, host)
  } catch (error) {
    await close()
    throw error
  }
  const { port } = httpServer.address() as AddressInfo
  joinOrigins = listeningUrls(host, port, protocol).lan.map((url) => url.replace(/\/$/, ''))

  return {
    url: `${protocol}://${reachableHost(host)}:${port}`,
    protocol,
    port,
    host,
    stats: () => registry.stats(),
    close,
  }
}

/**
 * Builds the web app into dist/web, as `npm run build` does (`npm start` passes `--build`, so its
 * options are checked, and `--help` answered, before the build's seconds).
 */
export async function buildWebApp(): Promise<void> {
  const { build } = await import('vite')
  await build({
    configFile: join(REPO_ROOT, 'vite.config.ts'),
    root: join(REPO_ROOT, 'apps', 'web'),
  })
}

/** Vite in middleware mode, loaded only for `--dev` so production never needs it. */
async function startVite(httpServer: AnyHttpServer) {
  const { createServer: createViteServer } = await import('vite')
  return createViteServer({
    configFile: join(REPO_ROOT, 'vite.config.ts'),
    root: join(REPO_ROOT, 'apps', 'web'),
    appType: 'spa',
    // HMR shares our port: one process, one port, also in development.
    server: { middlewareMode: true, ws: { server: httpServer } },
  })
}

function listen(server: AnyHttpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error)
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}

/** One line per event, with the time, so a demo's terminal doubles as its log. */
function logToStdout(line: string): void {
  console.log(`[cohort ${new Date().toISOString().slice(11, 19)}] ${line}`)
}

/** A host that a client on this machine can dial when the server bound `host`. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1'
  return host.includes(':') ? `[${host}]` : host
}
