import type { Server as HttpServer, IncomingMessage } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import {
  ClientMessageSchema,
  type ClientToServerEvents,
  type ErrorData,
  type IceServer,
  type ServerPush,
  type ServerReply,
  type ServerToClientEvents,
  SIGNALING_EVENT,
} from '@cohort/protocol'
import { Server, type Socket } from 'socket.io'
import { addressKey } from './client-address.ts'
import { type ClientLimits, MessageBudgets } from './client-limits.ts'
import type { ManifestCatalog } from './manifest-catalog.ts'
import { isAllowedOrigin } from './origin-check.ts'
import { refusal } from './permissions.ts'
import type { Revocations } from './revocations.ts'
import { type AfterReply, createRoomActions, errorReply, type Sender } from './room-actions.ts'
import { RoomPlans } from './room-plans.ts'
import type { RoomRegistry } from './rooms.ts'
import { SECURITY_HEADERS } from './security-headers.ts'
import { ThrottledLog } from './throttled-log.ts'
import type { TokenIssuer } from './tokens.ts'

/** An HTTP or HTTPS server: socket.io, Vite and the request handler treat both alike. */
export type AnyHttpServer = HttpServer | HttpsServer

/** Largest socket.io packet accepted; a bigger one closes that socket's transport. */
export const MAX_PACKET_BYTES = 64 * 1024

/** What the coordinator needs; the server assembles it. */
export interface CoordinatorOptions {
  readonly registry: RoomRegistry
  /** Where rooms' tasks are described (models, accuracies) for the planner. */
  readonly catalog: ManifestCatalog
  /** Quiet time before a burst of changes becomes one replan. */
  readonly replanDebounceMs: number
  /** The task a new room serves until its host picks one. */
  readonly defaultTask: string
  readonly tokens: TokenIssuer
  /** Removed devices, banned addresses and ended rooms. */
  readonly revocations: Revocations
  readonly iceServers: readonly IceServer[]
  readonly limits: ClientLimits
  /** Origins besides the server's own whose pages may open sockets (`--allow-origin`). */
  readonly allowedOrigins: readonly string[]
  /** How often empty rooms past their grace period are deleted. */
  readonly sweepIntervalMs: number
  /** Another handler (Vite's HMR) takes WebSocket upgrades on this port too. */
  readonly sharedUpgrades: boolean
  readonly now: () => number
  readonly log: (line: string) => void
}

/** The socket.io side of the server. */
export interface Coordinator {
  /** The socket.io server, e.g. for attaching an adapter when scaling out. */
  readonly io: Server<ClientToServerEvents, ServerToClientEvents>
  /** Closes every client connection and stops the sweep timer; the HTTP server is the caller's. */
  close(): Promise<void>
}

type CohortSocket = Socket<ClientToServerEvents, ServerToClientEvents>

/**
 * Wires socket.io signaling onto `httpServer`. Every inbound event is `unknown` until validated;
 * in order, each one meets its budgets (socket, address, strangers), the event-name check, the
 * schema and the sender's permissions (permissions.ts), and only then its handler
 * (room-actions.ts). Every failure becomes a typed error for the sender and a throttled log line;
 * nothing a client sends can throw out of a handler, and a flood cannot slow the other rooms.
 */
export function createCoordinator(
  httpServer: AnyHttpServer,
  options: CoordinatorOptions,
): Coordinator {
  const { registry, log } = options
  const budgets = new MessageBudgets(options.limits, options.now)
  const quiet = new ThrottledLog(log, options.now)
  const allowedOrigins = new Set(options.allowedOrigins)
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(httpServer, {
    maxHttpBufferSize: MAX_PACKET_BYTES,
    serveClient: false,
    // Upgrades that are not socket.io's are closed after a second, unless Vite's HMR wants them.
    destroyUpgrade: !options.sharedUpgrades,
    // Runs for every new session (not for each packet): who may open one at all.
    allowRequest: (req, callback) => {
      const verdict = admitConnection(req)
      callback(verdict, verdict === null)
    },
  })
  const admitConnection = (req: IncomingMessage): string | null => {
    const address = addressKey(req.socket.remoteAddress)
    const origin = req.headers.origin
    if (origin !== undefined && !isAllowedOrigin(origin, req.headers.host, allowedOrigins)) {
      quiet.log(
        `origin ${address}`,
        `refused a socket from ${address}: origin ${origin.slice(0, 100)} is not allowed (--allow-origin)`,
      )
      return 'origin not allowed'
    }
    const verdict = budgets.mayConnect(address)
    if (verdict === 'ok') return null
    quiet.log(`connect ${address}`, `refused a socket from ${address}: ${verdict}`)
    return verdict
  }
  io.engine.on(
    'connection',
    (engineSocket: {
      request: IncomingMessage
      once: (event: 'close', listener: () => void) => void
    }) => {
      const address = addressKey(engineSocket.request.socket.remoteAddress)
      budgets.opened(address)
      engineSocket.once('close', () => budgets.closed(address))
    },
  )
  // Polling responses come from engine.io, not from our request handler: they get the headers too.
  io.engine.on('headers', (headers: Record<string, string>) => {
    Object.assign(headers, SECURITY_HEADERS)
  })
  io.engine.on(
    'connection_error',
    (error: { code: number; message: string; req?: IncomingMessage }) => {
      const address = addressKey(error.req?.socket.remoteAddress)
      quiet.log(
        `transport ${address}`,
        `transport error ${error.code} from ${address}: ${error.message}`,
      )
    },
  )

  const push = (connectionId: string, message: ServerPush): void => {
    io.to(connectionId).emit(SIGNALING_EVENT, message)
  }
  // Plans each room; told of every change in membership, task, profiles and failures.
  const plans = new RoomPlans({
    registry,
    catalog: options.catalog,
    push,
    debounceMs: options.replanDebounceMs,
    defaultTask: options.defaultTask,
    now: options.now,
    log,
  })
  const actions = createRoomActions({
    registry,
    plans,
    tokens: options.tokens,
    revocations: options.revocations,
    budgets,
    iceServers: options.iceServers,
    push,
    disconnect: (connectionId) => io.sockets.sockets.get(connectionId)?.disconnect(true),
    now: options.now,
    log,
  })

  io.on('connection', (socket: CohortSocket) => {
    const sender: Sender = {
      connectionId: socket.id,
      address: addressKey(socket.handshake.address),
    }
    const bucket = budgets.socketBucket()
    let dropped = 0
    // Packets already read off a socket that was cut off still arrive: they are ignored.
    let cut = false

    /** The reply to one inbound event (the ack already taken off `args`); never throws. */
    const receive = (
      event: unknown,
      args: readonly unknown[],
      afterReply: AfterReply,
    ): ServerReply | null => {
      if (cut) return null
      const standing = registry.memberOf(socket.id)?.member.role ?? 'stranger'
      const overBudget = budgets.admit(bucket, sender.address, standing !== 'stranger')
      if (overBudget) {
        dropped++
        quiet.log(
          `rate-limited ${sender.address}`,
          `rate-limited ${actions.describe(socket.id)} from ${sender.address} (${overBudget} budget; ${messageType(args[0])})`,
        )
        if (dropped >= options.limits.dropsBeforeDisconnect) {
          quiet.log(
            `cut off ${sender.address}`,
            `cut off ${actions.describe(socket.id)} from ${sender.address} after ${dropped} dropped messages in a row`,
          )
          const membership = registry.memberOf(socket.id)
          budgets.cutOff(
            sender.address,
            membership ? `${membership.room}/${membership.member.deviceId}` : null,
          )
          cut = true
          socket.disconnect(true)
          return null
        }
        return errorReply({
          code: 'rate-limited',
          message: `Too many messages (${overBudget} budget); this one was dropped.`,
        })
      }
      dropped = 0
      if (event !== SIGNALING_EVENT) {
        return refuse(
          `Unknown event ${JSON.stringify(String(event).slice(0, 40))}; send "${SIGNALING_EVENT}".`,
        )
      }
      if (args.length !== 1) {
        return refuse(
          `A "${SIGNALING_EVENT}" event carries exactly one message, not ${args.length}.`,
        )
      }
      const parsed = ClientMessageSchema.safeParse(args[0])
      if (!parsed.success) return refuse(validationError(parsed.error))
      const forbidden = refusal(standing, parsed.data.type)
      if (forbidden) return refuse(forbidden)
      try {
        return actions.handle(sender, parsed.data, afterReply)
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        log(
          `internal error handling ${parsed.data.type} from ${actions.describe(socket.id)}: ${message}`,
        )
        return errorReply({ code: 'internal', message: 'The server failed on this message.' })
      }
    }

    const refuse = (error: ErrorData | string): ServerReply => {
      const data: ErrorData =
        typeof error === 'string' ? { code: 'bad-message', message: error } : error
      quiet.log(
        `${data.code} ${sender.address}`,
        `${data.code} from ${actions.describe(socket.id)}: ${data.message}`,
      )
      return errorReply(data)
    }

    // One listener for every event name, so that an unknown, numeric or ack-only event meets the
    // same checks as a good one. socket.io calls it inside its own tick: a throw would end the
    // process, hence the catch-all.
    socket.onAny((event: unknown, ...args: unknown[]) => {
      const announcements: (() => void)[] = []
      const ack =
        typeof args.at(-1) === 'function' ? (args.pop() as (reply: ServerReply) => void) : null
      try {
        const reply = receive(event, args, (announce) => announcements.push(announce))
        if (reply === null) return
        if (ack) ack(reply)
        else if (reply.type === 'error' && (reply.code !== 'rate-limited' || dropped === 1)) {
          // No acknowledgement to carry it: the error still reaches the sender as a push (once
          // per flood, so that dropping messages never costs more than receiving them).
          socket.emit(SIGNALING_EVENT, { type: 'error', code: reply.code, message: reply.message })
        }
        for (const announce of announcements) announce()
      } catch (error) {
        log(`failed to answer ${actions.describe(socket.id)}: ${String(error)}`)
        try {
          // Never leave a caller waiting for its own timeout.
          ack?.(errorReply({ code: 'internal', message: 'The server failed on this message.' }))
        } catch {
          // The transport is gone: there is no one left to answer.
        }
      }
    })
    socket.on('disconnect', (why) => {
      try {
        actions.disconnected(socket.id, why)
      } catch (error) {
        log(`failed to handle the disconnect of ${socket.id}: ${String(error)}`)
      }
    })
  })

  const sweep = setInterval(() => {
    for (const room of registry.sweep()) {
      plans.forget(room)
      log(`${room} deleted after staying empty`)
    }
    budgets.sweep()
  }, options.sweepIntervalMs)
  sweep.unref()

  return {
    io,
    async close() {
      clearInterval(sweep)
      plans.close()
      // Not io.close(): it also closes the HTTP server and waits for it, which the server owns.
      // Closing the transports lets clients see a lost connection and reconnect (and resume)
      // when the server is back, rather than an order to go away.
      io.engine.close()
      await io.of('/').adapter.close()
    },
  }
}

/** The part of a validation failure that the error reply reports. */
interface ValidationFailure {
  readonly issues: readonly {
    readonly code: string
    /** What was checked: a too-big number is a bad value, a too-big string or array a big payload. */
    readonly origin?: string
    readonly path: readonly PropertyKey[]
    readonly message: string
  }[]
}

/** Turns a validation failure into a typed error that names the field. */
export function validationError(error: ValidationFailure): ErrorData {
  const issue = error.issues[0]
  const where = issue && issue.path.length > 0 ? ` at ${issue.path.map(String).join('.')}` : ''
  const what = issue ? issue.message : 'invalid'
  return {
    code:
      issue?.code === 'too_big' && issue.origin !== 'number' && issue.origin !== 'bigint'
        ? 'payload-too-large'
        : 'bad-message',
    message: `Invalid signaling message${where}: ${what}`.slice(0, 300),
  }
}

/** What kind of message a dropped one was, for the log: its `type`, when it has a short one. */
function messageType(message: unknown): string {
  const { type, data } = (message ?? {}) as { type?: unknown; data?: { type?: unknown } }
  if (typeof type !== 'string') return 'no type'
  // A signal's kind (offer, answer, candidate) tells a renegotiation storm from a trickle.
  const kind = typeof data?.type === 'string' ? ` ${data.type.slice(0, 24)}` : ''
  return `${type.slice(0, 24)}${kind}`
}
