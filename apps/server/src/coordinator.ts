import type { Server as HttpServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import {
  assertNever,
  type ClientMessage,
  ClientMessageSchema,
  type ClientToServerEvents,
  type DeviceId,
  type ErrorData,
  err,
  type IceServer,
  ok,
  PROTOCOL_VERSION,
  type Result,
  type RoomCode,
  type ServerPush,
  type ServerReply,
  type ServerToClientEvents,
  SIGNALING_EVENT,
} from '@cohort/protocol'
import { Server, type Socket } from 'socket.io'
import { isolationHeaders } from './isolation-headers.ts'
import type { ManifestCatalog } from './manifest-catalog.ts'
import { type RateLimitOptions, TokenBucket } from './rate-limit.ts'
import { RoomPlans } from './room-plans.ts'
import { type Departure, type RoomRegistry, toPeerInfo } from './rooms.ts'
import { createRoomCode, type TokenIssuer } from './tokens.ts'

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
  readonly iceServers: readonly IceServer[]
  readonly rateLimit: RateLimitOptions
  /** Room creations per client address: new sockets are free, addresses are not. */
  readonly createRateLimit: RateLimitOptions
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
type Ack = (reply: ServerReply) => void
/** Announcements that must follow the reply, e.g. peer-joined after the newcomer's welcome. */
type AfterReply = (announce: () => void) => void

/**
 * Wires socket.io signaling onto `httpServer`: every inbound message is `unknown` until validated,
 * every failure becomes a typed error for the sender and one log line, and nothing a client sends
 * can throw out of a handler or disturb the other members of its room.
 */
export function createCoordinator(
  httpServer: AnyHttpServer,
  options: CoordinatorOptions,
): Coordinator {
  const { registry, tokens, log } = options
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(httpServer, {
    maxHttpBufferSize: MAX_PACKET_BYTES,
    serveClient: false,
    // Upgrades that are not socket.io's are closed after a second, unless Vite's HMR wants them.
    destroyUpgrade: !options.sharedUpgrades,
  })
  // Polling responses come from engine.io, not from our request handler: isolate them too.
  io.engine.on('headers', (headers: Record<string, string>) => {
    Object.assign(headers, isolationHeaders)
  })
  io.engine.on('connection_error', (error: { code: number; message: string }) => {
    log(`transport error ${error.code}: ${error.message}`)
  })

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

  const announceDeparture = (
    departure: Departure,
    reason: 'left' | 'disconnected' | 'removed',
    detail = '',
  ): void => {
    plans.left(departure.room, departure.member.deviceId)
    for (const member of departure.remaining) {
      push(member.connectionId, {
        type: 'peer-left',
        deviceId: departure.member.deviceId,
        reason,
      })
    }
    log(`${departure.room}/${departure.member.deviceId} ${reason}${detail ? ` (${detail})` : ''}`)
  }

  const handle = (
    socket: CohortSocket,
    message: ClientMessage,
    afterReply: AfterReply,
  ): ServerReply => {
    switch (message.type) {
      case 'create-room':
        return createRoom(socket, message)
      case 'join-room':
        return joinRoom(socket, message, afterReply)
      case 'signal': {
        const route = registry.route(socket.id, message.to)
        if (!route.ok) return errorReply(route.error)
        push(route.value.toConnectionId, {
          type: 'signal',
          from: route.value.from,
          linkId: message.linkId,
          data: message.data,
        })
        return { type: 'ok' }
      }
      case 'leave': {
        const departure = registry.leave(socket.id)
        if (departure) announceDeparture(departure, 'left')
        return { type: 'ok' }
      }
      case 'set-task': {
        const host = hostOf(socket)
        if (!host.ok) return errorReply(host.error)
        plans.setTask(host.value, message.task)
        return { type: 'ok' }
      }
      case 'set-ensemble-k': {
        const host = hostOf(socket)
        if (!host.ok) return errorReply(host.error)
        plans.setEnsembleK(host.value, message.k)
        return { type: 'ok' }
      }
      case 'profile': {
        const membership = registry.memberOf(socket.id)
        if (!membership) return errorReply(notInRoom)
        plans.setProfile(membership.room, membership.member.deviceId, message.profile)
        return { type: 'ok' }
      }
      case 'report': {
        const membership = registry.memberOf(socket.id)
        if (!membership) return errorReply(notInRoom)
        plans.report(membership.room, message.outcomes)
        return { type: 'ok' }
      }
      case 'remove-device':
        return removeDevice(socket, message.deviceId)
      default:
        return assertNever(message)
    }
  }

  const notInRoom: ErrorData = { code: 'not-in-room', message: 'Join a room first.' }

  const hostOf = (socket: CohortSocket): Result<RoomCode, ErrorData> => {
    const membership = registry.memberOf(socket.id)
    if (!membership) return err(notInRoom)
    if (membership.member.role !== 'host') {
      return err({ code: 'forbidden', message: "Only the room's host may do this." })
    }
    return ok(membership.room)
  }

  const removeDevice = (socket: CohortSocket, deviceId: DeviceId): ServerReply => {
    const host = hostOf(socket)
    if (!host.ok) return errorReply(host.error)
    const target = registry.membersOf(host.value).find((member) => member.deviceId === deviceId)
    if (!target) {
      return errorReply({ code: 'peer-not-found', message: `No device ${deviceId} in this room.` })
    }
    // The device is told first, so its page stops instead of reconnecting.
    push(target.connectionId, { type: 'peer-left', deviceId, reason: 'removed' })
    const departure = registry.leave(target.connectionId)
    if (departure) announceDeparture(departure, 'removed')
    io.sockets.sockets.get(target.connectionId)?.disconnect(true)
    return { type: 'ok' }
  }

  // Per address, so that opening new sockets cannot fill the server with rooms.
  const createBuckets = new Map<string, TokenBucket>()

  const createRoom = (
    socket: CohortSocket,
    message: Extract<ClientMessage, { type: 'create-room' }>,
  ): ServerReply => {
    if (message.protocolVersion !== PROTOCOL_VERSION)
      return versionMismatch(message.protocolVersion)
    const address = socket.handshake.address
    let bucket = createBuckets.get(address)
    if (!bucket) {
      bucket = new TokenBucket(options.createRateLimit, options.now)
      createBuckets.set(address, bucket)
    }
    if (!bucket.take()) {
      log(`rate-limited room creation from ${address}`)
      return errorReply({
        code: 'rate-limited',
        message: 'Too many rooms created from this address; wait a minute, or reuse a room.',
      })
    }
    let room = createRoomCode()
    // 65 random bits make a collision practically impossible; checking costs nothing.
    while (registry.has(room)) room = createRoomCode()
    const created = registry.create(room)
    if (!created.ok) return errorReply(created.error)
    log(`${room} created`)
    return { type: 'room-created', room, hostKey: tokens.hostKey(room) }
  }

  const joinRoom = (
    socket: CohortSocket,
    message: Extract<ClientMessage, { type: 'join-room' }>,
    afterReply: AfterReply,
  ): ServerReply => {
    if (message.protocolVersion !== PROTOCOL_VERSION)
      return versionMismatch(message.protocolVersion)
    const { room } = message
    const isHost = message.hostKey !== undefined && tokens.verifyHostKey(room, message.hostKey)
    if (message.role === 'host' && !isHost) {
      return errorReply({
        code: 'forbidden',
        message: 'The host role needs the host key this room was created with.',
      })
    }
    let resumedId = null
    if (message.resumeToken !== undefined) {
      resumedId = tokens.verifyResumeToken(room, message.resumeToken)
      // A stale or foreign token is not an attack worth refusing: the device just gets a new id.
      if (resumedId === null) log(`${room}: ignored a resume token not issued for this room`)
    }
    if (!registry.has(room) && (isHost || resumedId !== null)) {
      // Only this server's secret can have signed the proof, so the room existed before a restart.
      const created = registry.create(room)
      if (!created.ok) return errorReply(created.error)
      log(`${room} re-created from a ${isHost ? 'host key' : 'resume token'}`)
    }
    const joined = registry.join({
      connectionId: socket.id,
      room,
      role: message.role,
      label: message.label,
      ...(resumedId === null ? {} : { deviceId: resumedId }),
    })
    if (!joined.ok) return errorReply(joined.error)
    const { member, peers, replaced, left, resumed } = joined.value

    if (left) announceDeparture(left, 'left')
    if (replaced) {
      const notice: ServerPush = {
        type: 'peer-left',
        deviceId: replaced.deviceId,
        reason: 'replaced',
      }
      // The old socket is told too, so a tab that lost the race stops using the identity.
      push(replaced.connectionId, notice)
      for (const peer of peers) push(peer.connectionId, notice)
      log(`${room}/${replaced.deviceId} replaced by a new connection`)
    }
    // After the welcome, so the newcomer knows its id before any peer's signal can reach it.
    afterReply(() => {
      for (const peer of peers) {
        push(peer.connectionId, { type: 'peer-joined', peer: toPeerInfo(member) })
      }
      plans.joined(room, member)
    })
    log(`${room}/${member.deviceId} joined as ${member.role}${resumed ? ' (resumed)' : ''}`)
    return {
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      room,
      deviceId: member.deviceId,
      resumeToken: tokens.resumeToken(room, member.deviceId),
      role: member.role,
      resumed,
      peers: peers.map(toPeerInfo),
      iceServers: [...options.iceServers],
    }
  }

  const describe = (socket: CohortSocket): string => {
    const membership = registry.memberOf(socket.id)
    return membership
      ? `${membership.room}/${membership.member.deviceId}`
      : `socket ${socket.id} (no room)`
  }

  io.on('connection', (socket) => {
    const bucket = new TokenBucket(options.rateLimit, options.now)
    let dropped = 0

    /** Validates and handles one inbound message; returns the reply, never throws. */
    const receive = (raw: unknown, afterReply: AfterReply): ServerReply => {
      if (!bucket.take()) {
        // One line per flood, not one per dropped message.
        if (dropped++ === 0) log(`rate-limited ${describe(socket)}`)
        return errorReply({
          code: 'rate-limited',
          message: `Too many messages (more than ${options.rateLimit.perSecond}/s); this one was dropped.`,
        })
      }
      if (dropped > 0) {
        log(`${describe(socket)} sends again after ${dropped} dropped messages`)
        dropped = 0
      }
      const parsed = ClientMessageSchema.safeParse(raw)
      if (!parsed.success) {
        const error = validationError(parsed.error)
        log(`${error.code} from ${describe(socket)}: ${error.message}`)
        return errorReply(error)
      }
      try {
        return handle(socket, parsed.data, afterReply)
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        log(`internal error handling ${parsed.data.type} from ${describe(socket)}: ${message}`)
        return errorReply({ code: 'internal', message: 'The server failed on this message.' })
      }
    }

    const answer = (reply: ServerReply, ack: unknown): void => {
      if (typeof ack === 'function') {
        ;(ack as Ack)(reply)
      } else if (reply.type === 'error') {
        // No acknowledgement to carry it: the error still reaches the sender as a push.
        socket.emit(SIGNALING_EVENT, { type: 'error', code: reply.code, message: reply.message })
      }
    }

    socket.on(SIGNALING_EVENT, (raw: unknown, ack?: unknown) => {
      const announcements: (() => void)[] = []
      try {
        answer(
          receive(raw, (announce) => announcements.push(announce)),
          ack,
        )
        for (const announce of announcements) announce()
      } catch (error) {
        // Only a transport failure can land here; the room must not notice it.
        log(`failed to answer ${describe(socket)}: ${String(error)}`)
      }
    })
    socket.onAny((event: string, ...args: unknown[]) => {
      if (event === SIGNALING_EVENT) return
      const reply = bucket.take()
        ? errorReply({
            code: 'bad-message',
            message: `Unknown event ${JSON.stringify(event.slice(0, 40))}; send "${SIGNALING_EVENT}".`,
          })
        : null
      if (reply) {
        log(
          `bad-message from ${describe(socket)}: unknown event ${JSON.stringify(event.slice(0, 40))}`,
        )
        answer(reply, args.at(-1))
      }
    })
    socket.on('disconnect', (why) => {
      const departure = registry.leave(socket.id)
      // socket.io's reason (ping timeout, transport close, …) tells a crash from a network problem.
      if (departure) announceDeparture(departure, 'disconnected', why)
    })
  })

  const sweep = setInterval(() => {
    for (const room of registry.sweep()) {
      plans.forget(room)
      log(`${room} deleted after staying empty`)
    }
    // A full bucket is the same as none: forget it, so the map only holds recent creators.
    for (const [address, bucket] of createBuckets) {
      if (bucket.available >= options.createRateLimit.burst) createBuckets.delete(address)
    }
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

function errorReply(error: ErrorData): ServerReply {
  return { type: 'error', code: error.code, message: error.message }
}

function versionMismatch(theirs: number): ServerReply {
  return errorReply({
    code: 'version-mismatch',
    message: `This server speaks protocol ${PROTOCOL_VERSION}, the page speaks ${theirs}; reload the page.`,
  })
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
