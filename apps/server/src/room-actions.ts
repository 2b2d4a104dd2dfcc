import {
  assertNever,
  type ClientMessage,
  type DeviceId,
  type ErrorData,
  engineSummary,
  type IceServer,
  PROTOCOL_VERSION,
  type ServerPush,
  type ServerReply,
} from '@cohort/protocol'
import type { MessageBudgets } from './client-limits.ts'
import type { Revocations } from './revocations.ts'
import type { RoomPlans } from './room-plans.ts'
import { type Departure, type RoomRegistry, toPeerInfo } from './rooms.ts'
import { createRoomCode, type TokenIssuer } from './tokens.ts'

/** The connection a message came from. */
export interface Sender {
  readonly connectionId: string
  /** Its address key (see client-address.ts). */
  readonly address: string
}

/** Announcements that must follow the reply, e.g. peer-joined after the newcomer's welcome. */
export type AfterReply = (announce: () => void) => void

/** What the room actions act on; the coordinator wires it. */
export interface RoomActionsOptions {
  readonly registry: RoomRegistry
  readonly plans: RoomPlans
  readonly tokens: TokenIssuer
  readonly revocations: Revocations
  readonly budgets: MessageBudgets
  readonly iceServers: readonly IceServer[]
  readonly push: (connectionId: string, message: ServerPush) => void
  /** Closes a connection once what was pushed to it is on its way. */
  readonly disconnect: (connectionId: string) => void
  readonly now: () => number
  readonly log: (line: string) => void
}

/** Join refusals that say the address tried a door it has no key for: they count as guesses. */
const GUESSES: ReadonlySet<ErrorData['code']> = new Set([
  'room-not-found',
  'room-ended',
  'forbidden',
  'banned',
])

/**
 * What each signaling message does, once it is validated and its sender may send it (see
 * permissions.ts): the rooms' state changes and the pushes that tell the members.
 */
export function createRoomActions(options: RoomActionsOptions) {
  const { registry, plans, tokens, revocations, budgets, push, log } = options

  const announceDeparture = (
    departure: Departure,
    reason: 'left' | 'disconnected' | 'removed',
    detail = '',
  ): void => {
    plans.left(departure.room, departure.member.deviceId)
    for (const member of departure.remaining) {
      push(member.connectionId, { type: 'peer-left', deviceId: departure.member.deviceId, reason })
    }
    log(`${departure.room}/${departure.member.deviceId} ${reason}${detail ? ` (${detail})` : ''}`)
  }

  const membership = (sender: Sender) => {
    const found = registry.memberOf(sender.connectionId)
    // The permission check ran first; a member that vanished in between is simply not in a room.
    if (!found) throw new Error('the sender is in no room')
    return found
  }

  const createRoom = (
    sender: Sender,
    message: Extract<ClientMessage, { type: 'create-room' }>,
  ): ServerReply => {
    if (message.protocolVersion !== PROTOCOL_VERSION)
      return versionMismatch(message.protocolVersion)
    if (!budgets.mayCreate(sender.address)) {
      log(`rate-limited room creation from ${sender.address}`)
      return errorReply({
        code: 'rate-limited',
        message: 'Too many rooms created from this address; wait a minute, or reuse a room.',
      })
    }
    let room = createRoomCode()
    // 65 random bits make a collision practically impossible; checking costs nothing.
    while (registry.has(room) || revocations.isEnded(room)) room = createRoomCode()
    const created = registry.create(room)
    if (!created.ok) return errorReply(created.error)
    log(`${room} created`)
    return { type: 'room-created', room, hostKey: tokens.hostKey(room) }
  }

  const joinRoom = (
    sender: Sender,
    message: Extract<ClientMessage, { type: 'join-room' }>,
    afterReply: AfterReply,
  ): ServerReply => {
    if (message.protocolVersion !== PROTOCOL_VERSION)
      return versionMismatch(message.protocolVersion)
    if (!budgets.mayTryJoin(sender.address)) {
      return errorReply({
        code: 'rate-limited',
        message: 'Too many refused joins from this address; check the room code and wait a minute.',
      })
    }
    const reply = admit(sender, message, afterReply)
    if (reply.type === 'error' && GUESSES.has(reply.code)) budgets.joinRefused(sender.address)
    return reply
  }

  const admit = (
    sender: Sender,
    message: Extract<ClientMessage, { type: 'join-room' }>,
    afterReply: AfterReply,
  ): ServerReply => {
    const { room } = message
    if (revocations.isEnded(room)) {
      return errorReply({ code: 'room-ended', message: `Room ${room} was ended by its host.` })
    }
    const isHost = message.hostKey !== undefined && tokens.verifyHostKey(room, message.hostKey)
    if (message.role === 'host' && !isHost) {
      return errorReply({
        code: 'forbidden',
        message: 'The host role needs the host key this room was created with.',
      })
    }
    if (!isHost && revocations.isAddressBanned(room, sender.address)) {
      return errorReply({
        code: 'banned',
        message: `The host of room ${room} banned this network address from the room.`,
      })
    }
    let resumedId: DeviceId | null = null
    if (message.resumeToken !== undefined) {
      const proof = tokens.verifyResumeToken(room, message.resumeToken)
      if (proof.valid && revocations.isDeviceRevoked(room, proof.deviceId)) {
        return errorReply({
          code: 'banned',
          message: `The host removed this device from room ${room}; it cannot rejoin as itself.`,
        })
      }
      const wait = proof.valid ? budgets.rejoinWaitMs(`${room}/${proof.deviceId}`) : 0
      if (wait > 0) {
        return errorReply({
          code: 'rate-limited',
          message: `This device was cut off for flooding; it may rejoin in ${Math.ceil(wait / 1000)} s.`,
        })
      }
      // A stale or foreign token is not an attack worth refusing: the device just gets a new id.
      if (proof.valid) resumedId = proof.deviceId
      else log(`${room}: ignored a resume token (${proof.why})`)
    }
    if (!registry.has(room) && (isHost || resumedId !== null)) {
      // Only this server's secret can have signed the proof, so the room existed before a restart.
      const created = registry.create(room)
      if (!created.ok) return errorReply(created.error)
      log(`${room} re-created from a ${isHost ? 'host key' : 'resume token'}`)
    }
    const joined = registry.join({
      connectionId: sender.connectionId,
      room,
      role: message.role,
      label: message.label,
      address: sender.address,
      seatsPerAddress: budgets.seatLimitApplies(sender.address)
        ? budgets.limits.seatsPerAddress
        : null,
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
      for (const peer of peers)
        push(peer.connectionId, { type: 'peer-joined', peer: toPeerInfo(member) })
      plans.joined(room, member)
    })
    log(`${room}/${member.deviceId} joined as ${member.role}${resumed ? ' (resumed)' : ''}`)
    return {
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      room,
      deviceId: member.deviceId,
      name: member.name,
      resumeToken: tokens.resumeToken(room, member.deviceId),
      role: member.role,
      resumed,
      peers: peers.map(toPeerInfo),
      iceServers: [...options.iceServers],
      locked: registry.isLocked(room),
      budget: { ...budgets.limits.perSocket },
    }
  }

  const removeDevice = (
    sender: Sender,
    message: Extract<ClientMessage, { type: 'remove-device' }>,
  ): ServerReply => {
    const { room } = membership(sender)
    const target = registry.membersOf(room).find((member) => member.deviceId === message.deviceId)
    if (!target) {
      return errorReply({
        code: 'peer-not-found',
        message: `No device ${message.deviceId} in this room.`,
      })
    }
    if (target.connectionId === sender.connectionId) {
      return errorReply({
        code: 'bad-message',
        message: 'A host cannot remove itself; leave instead.',
      })
    }
    // Every token it holds was issued less than a lifetime ago: the revocation can end then.
    revocations.revokeDevice(room, target.deviceId, options.now() + tokens.resumeTokenLifetimeMs)
    if (message.ban === true) revocations.banAddress(room, target.address)
    // The device is told first, so its page stops instead of reconnecting.
    push(target.connectionId, { type: 'peer-left', deviceId: target.deviceId, reason: 'removed' })
    const departure = registry.leave(target.connectionId)
    if (departure) announceDeparture(departure, 'removed', message.ban === true ? 'banned' : '')
    options.disconnect(target.connectionId)
    return { type: 'ok' }
  }

  const lockRoom = (sender: Sender, locked: boolean): ServerReply => {
    const { room } = membership(sender)
    registry.setLocked(room, locked)
    for (const member of registry.membersOf(room))
      push(member.connectionId, { type: 'room-locked', locked })
    log(`${room} ${locked ? 'locked' : 'unlocked'}`)
    return { type: 'ok' }
  }

  const endRoom = (sender: Sender): ServerReply => {
    const { room } = membership(sender)
    revocations.endRoom(room)
    const members = registry.delete(room)
    plans.forget(room)
    for (const member of members) {
      if (member.connectionId === sender.connectionId) continue
      push(member.connectionId, { type: 'room-ended' })
      options.disconnect(member.connectionId)
    }
    log(`${room} ended by its host (${members.length} members sent away)`)
    return { type: 'ok' }
  }

  /** Handles one validated message from a sender whose standing allows it; may throw on a bug. */
  const handle = (sender: Sender, message: ClientMessage, afterReply: AfterReply): ServerReply => {
    switch (message.type) {
      case 'create-room':
        return createRoom(sender, message)
      case 'join-room':
        return joinRoom(sender, message, afterReply)
      case 'signal': {
        const route = registry.route(sender.connectionId, message.to)
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
        const departure = registry.leave(sender.connectionId)
        if (departure) announceDeparture(departure, 'left')
        return { type: 'ok' }
      }
      case 'set-task':
        plans.setTask(membership(sender).room, message.task)
        return { type: 'ok' }
      case 'set-ensemble-k':
        plans.setEnsembleK(membership(sender).room, message.k)
        return { type: 'ok' }
      case 'profile': {
        const { room, member } = membership(sender)
        plans.setProfile(room, member.deviceId, message.profile)
        log(
          `${room}/${member.deviceId} profiled (${message.profile.platform ?? 'browser'}, ${message.profile.executionProvider}${message.profile.engine ? `, ${engineSummary(message.profile.engine)}` : ''})`,
        )
        return { type: 'ok' }
      }
      case 'loaded': {
        const { room, member } = membership(sender)
        plans.setLoaded(room, member.deviceId, message.models)
        return { type: 'ok' }
      }
      case 'report':
        plans.report(membership(sender).room, message.outcomes)
        return { type: 'ok' }
      case 'remove-device':
        return removeDevice(sender, message)
      case 'lock-room':
        return lockRoom(sender, message.locked)
      case 'end-room':
        return endRoom(sender)
      default:
        return assertNever(message)
    }
  }

  /** A connection closed: its member (if any) has left. */
  const disconnected = (connectionId: string, why: string): void => {
    const departure = registry.leave(connectionId)
    // socket.io's reason (ping timeout, transport close, …) tells a crash from a network problem.
    if (departure) announceDeparture(departure, 'disconnected', why)
  }

  /** Who a connection speaks for, for the logs. */
  const describe = (connectionId: string): string => {
    const found = registry.memberOf(connectionId)
    return found ? `${found.room}/${found.member.deviceId}` : `socket ${connectionId} (no room)`
  }

  return { handle, disconnected, describe }
}

/** The handlers of one coordinator. */
export type RoomActions = ReturnType<typeof createRoomActions>

/** An error as a reply. */
export function errorReply(error: ErrorData): ServerReply {
  return { type: 'error', code: error.code, message: error.message }
}

function versionMismatch(theirs: number): ServerReply {
  return errorReply({
    code: 'version-mismatch',
    message: `This server speaks protocol ${PROTOCOL_VERSION}, the page speaks ${theirs}; reload the page.`,
  })
}
