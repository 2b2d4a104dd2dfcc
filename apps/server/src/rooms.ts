import {
  type DeviceId,
  type ErrorData,
  err,
  ok,
  type PeerInfo,
  type Result,
  type Role,
  type RoomCode,
} from '@cohort/protocol'
import { memberName } from './member-names.ts'
import { createDeviceId } from './tokens.ts'

/** A device or host in a room, bound to the connection that currently speaks for it. */
export interface Member {
  readonly deviceId: DeviceId
  readonly role: Role
  /** Its friendly name, unique in the room; kept when the device comes back. */
  readonly name: string
  readonly label: string
  readonly joinedAt: number
  /** The socket id; a member is replaced, never mutated, when a reload brings a new socket. */
  readonly connectionId: string
  /** Where the connection comes from (an address key), for seat limits and bans. */
  readonly address: string
}

/** Limits that keep one room or one client from exhausting the server. */
export interface RoomLimits {
  /** Members per room, hosts included. */
  readonly maxMembers: number
  /** Rooms held in memory at once (empty ones included until their grace period ends). */
  readonly maxRooms: number
  /** How long an empty room is kept so that everyone can reload without losing it. */
  readonly emptyRoomGraceMs: number
}

/**
 * Defaults: a large class fits (60 students with a phone and a laptop each, their teacher's
 * dashboard and a few apps), a reload never loses a room, a flood of creates stops.
 */
export const DEFAULT_ROOM_LIMITS: RoomLimits = {
  maxMembers: 128,
  maxRooms: 10_000,
  emptyRoomGraceMs: 10 * 60_000,
}

/** What a connection asks for when it joins. The caller has already checked role and tokens. */
export interface JoinRequest {
  readonly connectionId: string
  readonly room: RoomCode
  readonly role: Role
  readonly label: string
  /** A device id proven by a resume token; absent for a new identity. */
  readonly deviceId?: DeviceId
  /** The connection's address key. */
  readonly address: string
  /** Seats one address may hold in this room; null when its seats are not limited. */
  readonly seatsPerAddress: number | null
}

/** A member that left a room, and who is still there to be told. */
export interface Departure {
  readonly room: RoomCode
  readonly member: Member
  readonly remaining: readonly Member[]
}

/** Everything the caller must announce after a join. */
export interface JoinOutcome {
  readonly member: Member
  /** True when the id came from a resume token. */
  readonly resumed: boolean
  /** The other members, to be listed in the welcome and told of the newcomer. */
  readonly peers: readonly Member[]
  /** The same device's previous connection, dropped from the room (a reload race). */
  readonly replaced: Member | null
  /** This connection's previous membership: one connection is in at most one room. */
  readonly left: Departure | null
}

/** A relay target inside the sender's room. */
export interface Route {
  readonly from: DeviceId
  readonly toConnectionId: string
}

interface Room {
  readonly members: Map<DeviceId, Member>
  /** When the last member left (or the room was created); null while anyone is in it. */
  emptySince: number | null
  /** A locked room takes no new identities; members coming back (resumed ids, hosts) still may. */
  locked: boolean
}

/**
 * Room state as plain logic: who is in which room, under which id, bound to which connection.
 * No sockets, no timers — the coordinator drives it and turns outcomes into messages.
 */
export class RoomRegistry {
  readonly #rooms = new Map<RoomCode, Room>()
  readonly #byConnection = new Map<string, { room: RoomCode; deviceId: DeviceId }>()
  readonly #limits: RoomLimits
  readonly #now: () => number
  readonly #newDeviceId: () => DeviceId

  constructor(
    limits: RoomLimits = DEFAULT_ROOM_LIMITS,
    now: () => number = Date.now,
    newDeviceId: () => DeviceId = createDeviceId,
  ) {
    this.#limits = limits
    this.#now = now
    this.#newDeviceId = newDeviceId
  }

  /** Whether the room is held in memory. */
  has(room: RoomCode): boolean {
    return this.#rooms.has(room)
  }

  /** Adds an empty room; idempotent. Fails when the server holds too many rooms. */
  create(room: RoomCode): Result<void, ErrorData> {
    if (this.#rooms.has(room)) return ok(undefined)
    if (this.#rooms.size >= this.#limits.maxRooms) this.sweep()
    if (this.#rooms.size >= this.#limits.maxRooms) {
      return err({
        code: 'rate-limited',
        message: 'This server holds too many rooms right now; try again in a few minutes.',
      })
    }
    this.#rooms.set(room, { members: new Map(), emptySince: this.#now(), locked: false })
    return ok(undefined)
  }

  /** Puts a connection into a room under a new or resumed device id. */
  join(request: JoinRequest): Result<JoinOutcome, ErrorData> {
    const room = this.#rooms.get(request.room)
    if (!room) {
      return err({
        code: 'room-not-found',
        message: `There is no room ${request.room}; check the code or create a new room.`,
      })
    }
    const current = this.#byConnection.get(request.connectionId)
    const previous = request.deviceId === undefined ? undefined : room.members.get(request.deviceId)
    // Seats this join frees in the same room: the connection's own seat, the replaced device's seat.
    const freed = new Set<DeviceId>()
    if (current?.room === request.room) freed.add(current.deviceId)
    if (previous) freed.add(previous.deviceId)
    if (room.locked && request.deviceId === undefined && request.role !== 'host') {
      return err({
        code: 'room-locked',
        message: `Room ${request.room} is locked: its host takes no new devices right now.`,
      })
    }
    if (room.members.size - freed.size >= this.#limits.maxMembers) {
      return err({
        code: 'room-full',
        message: `Room ${request.room} is full: it holds at most ${this.#limits.maxMembers} members, hosts included. Ask the host to remove a device or to start the server with a larger --max-room-size.`,
      })
    }
    if (request.seatsPerAddress !== null) {
      let seats = 0
      for (const member of room.members.values()) {
        if (member.address === request.address && !freed.has(member.deviceId)) seats++
      }
      if (seats >= request.seatsPerAddress) {
        return err({
          code: 'room-full',
          message: `Your network address already holds ${request.seatsPerAddress} seats in room ${request.room}, the most one address may take (--seats-per-address).`,
        })
      }
    }

    const left = this.leave(request.connectionId)
    // Leaving may have removed the previous member already (the same connection rejoining).
    const replaced =
      request.deviceId === undefined ? null : (room.members.get(request.deviceId) ?? null)
    if (replaced) this.#byConnection.delete(replaced.connectionId)

    const deviceId = request.deviceId ?? this.#uniqueDeviceId(room)
    const kept = previous?.name ?? replaced?.name
    const member: Member = {
      deviceId,
      role: request.role,
      name: kept ?? memberName(deviceId, new Set([...room.members.values()].map((m) => m.name))),
      label: cleanLabel(request.label),
      joinedAt: this.#now(),
      connectionId: request.connectionId,
      address: request.address,
    }
    room.members.set(deviceId, member)
    room.emptySince = null
    this.#byConnection.set(request.connectionId, { room: request.room, deviceId })
    const peers = [...room.members.values()].filter((m) => m.deviceId !== deviceId)
    return ok({ member, resumed: request.deviceId !== undefined, peers, replaced, left })
  }

  /** Removes a connection from its room; null when it was in none. */
  leave(connectionId: string): Departure | null {
    const entry = this.#byConnection.get(connectionId)
    if (!entry) return null
    this.#byConnection.delete(connectionId)
    const room = this.#rooms.get(entry.room)
    const member = room?.members.get(entry.deviceId)
    if (!room || !member) return null
    room.members.delete(entry.deviceId)
    if (room.members.size === 0) room.emptySince = this.#now()
    return { room: entry.room, member, remaining: [...room.members.values()] }
  }

  /** The room and member a connection speaks for, if any. */
  memberOf(connectionId: string): { room: RoomCode; member: Member } | undefined {
    const entry = this.#byConnection.get(connectionId)
    const member = entry && this.#rooms.get(entry.room)?.members.get(entry.deviceId)
    return entry && member ? { room: entry.room, member } : undefined
  }

  /** Locks or unlocks a room; false when there is no such room. */
  setLocked(room: RoomCode, locked: boolean): boolean {
    const entry = this.#rooms.get(room)
    if (!entry) return false
    entry.locked = locked
    return true
  }

  /** Whether a room takes no new identities. */
  isLocked(room: RoomCode): boolean {
    return this.#rooms.get(room)?.locked ?? false
  }

  /** Deletes a room at once, members and all; returns the members it held. */
  delete(room: RoomCode): readonly Member[] {
    const entry = this.#rooms.get(room)
    if (!entry) return []
    this.#rooms.delete(room)
    for (const member of entry.members.values()) this.#byConnection.delete(member.connectionId)
    return [...entry.members.values()]
  }

  /** The members of a room (empty when the room does not exist). */
  membersOf(room: RoomCode): readonly Member[] {
    return [...(this.#rooms.get(room)?.members.values() ?? [])]
  }

  /** Where a signal from `connectionId` to `to` goes: only ever inside the sender's room. */
  route(connectionId: string, to: DeviceId): Result<Route, ErrorData> {
    const sender = this.memberOf(connectionId)
    if (!sender) {
      return err({ code: 'not-in-room', message: 'Join a room before sending signals.' })
    }
    const target = this.#rooms.get(sender.room)?.members.get(to)
    if (!target || target.deviceId === sender.member.deviceId) {
      return err({
        code: 'peer-not-found',
        message: `Device ${to} is not in room ${sender.room}; it may have left.`,
      })
    }
    return ok({ from: sender.member.deviceId, toConnectionId: target.connectionId })
  }

  /** Deletes rooms that have been empty for longer than the grace period; returns their codes. */
  sweep(): RoomCode[] {
    const now = this.#now()
    const deleted: RoomCode[] = []
    for (const [code, room] of this.#rooms) {
      if (room.emptySince !== null && now - room.emptySince >= this.#limits.emptyRoomGraceMs) {
        this.#rooms.delete(code)
        deleted.push(code)
      }
    }
    return deleted
  }

  /** Counts for the health endpoint. */
  stats(): { rooms: number; members: number } {
    return { rooms: this.#rooms.size, members: this.#byConnection.size }
  }

  #uniqueDeviceId(room: Room): DeviceId {
    for (;;) {
      const id = this.#newDeviceId()
      if (!room.members.has(id)) return id
    }
  }
}

/** The public view of a member, as the wire carries it. */
export function toPeerInfo(member: Member): PeerInfo {
  return {
    deviceId: member.deviceId,
    role: member.role,
    name: member.name,
    label: member.label,
    joinedAt: member.joinedAt,
  }
}

// Labels are shown on dashboards and in logs: no control characters, no surrounding blanks.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g

function cleanLabel(label: string): string {
  return label.replace(CONTROL_CHARACTERS, ' ').trim()
}
