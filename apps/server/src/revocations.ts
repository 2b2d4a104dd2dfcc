import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type DeviceId, DeviceIdSchema, type RoomCode, RoomCodeSchema } from '@cohort/protocol'
import { z } from 'zod'

/** Name of the file in the state dir that holds what hosts took back. */
export const REVOCATIONS_FILE = 'revocations.json'

/** Entries kept at most; past it the oldest go first (a host cannot fill the disk). */
export const MAX_REVOCATIONS = 100_000

const FileSchema = z.object({
  version: z.literal(1),
  /** Resume tokens of removed devices; kept until every token issued before is expired anyway. */
  devices: z.array(z.object({ room: RoomCodeSchema, deviceId: DeviceIdSchema, until: z.number() })),
  /** Addresses a host banned from a room, for as long as the room lives. */
  addresses: z.array(z.object({ room: RoomCodeSchema, address: z.string().max(64) })),
  /** Rooms their host ended: the code, the host key and every token are dead for good. */
  endedRooms: z.array(RoomCodeSchema),
})
type RevocationFile = z.infer<typeof FileSchema>
type RevokedDevice = RevocationFile['devices'][number]
type BannedAddress = RevocationFile['addresses'][number]

/**
 * What hosts took back — removed devices, banned addresses, ended rooms — kept in memory for the
 * checks on every join and written to the state dir on every change, so a restart forgets none.
 */
export class Revocations {
  readonly #file: string | null
  readonly #now: () => number
  /** By `room/deviceId`; `until` is when the revocation stops mattering. */
  readonly #devices = new Map<string, RevokedDevice>()
  /** By `room/address`. */
  readonly #addresses = new Map<string, BannedAddress>()
  readonly #endedRooms = new Set<RoomCode>()

  /**
   * @param stateDir where the list is persisted; null keeps it in memory only (tests)
   * @throws when the file exists but is not a revocation list: starting without the bans it held
   *   would quietly let banned devices back in
   */
  constructor(stateDir: string | null, now: () => number = Date.now) {
    this.#file = stateDir === null ? null : join(stateDir, REVOCATIONS_FILE)
    this.#now = now
    const saved = this.#file === null ? null : readList(this.#file)
    if (!saved) return
    for (const entry of saved.devices) this.#devices.set(`${entry.room}/${entry.deviceId}`, entry)
    for (const entry of saved.addresses)
      this.#addresses.set(`${entry.room}/${entry.address}`, entry)
    for (const room of saved.endedRooms) this.#endedRooms.add(room)
  }

  /** Revokes a device's resume tokens in `room` until `until` (when all of them have expired). */
  revokeDevice(room: RoomCode, deviceId: DeviceId, until: number): void {
    // Deleted first, so the newest entry is also the last one trimmed.
    this.#devices.delete(`${room}/${deviceId}`)
    this.#devices.set(`${room}/${deviceId}`, { room, deviceId, until })
    this.#save()
  }

  /** Whether the device's tokens for `room` were revoked. */
  isDeviceRevoked(room: RoomCode, deviceId: DeviceId): boolean {
    const entry = this.#devices.get(`${room}/${deviceId}`)
    return entry !== undefined && entry.until > this.#now()
  }

  /** Refuses `address` (an address key) in `room` from now on. */
  banAddress(room: RoomCode, address: string): void {
    this.#addresses.delete(`${room}/${address}`)
    this.#addresses.set(`${room}/${address}`, { room, address })
    this.#save()
  }

  /** Whether `address` is banned from `room`. */
  isAddressBanned(room: RoomCode, address: string): boolean {
    return this.#addresses.has(`${room}/${address}`)
  }

  /** Ends `room` for good; its bans are then moot and forgotten. */
  endRoom(room: RoomCode): void {
    this.#endedRooms.add(room)
    for (const [key, entry] of this.#devices) if (entry.room === room) this.#devices.delete(key)
    for (const [key, entry] of this.#addresses) if (entry.room === room) this.#addresses.delete(key)
    this.#save()
  }

  /** Whether the host ended `room`. */
  isEnded(room: RoomCode): boolean {
    return this.#endedRooms.has(room)
  }

  #save(): void {
    const now = this.#now()
    for (const [key, entry] of this.#devices) if (entry.until <= now) this.#devices.delete(key)
    trimOldest(this.#devices, MAX_REVOCATIONS)
    trimOldest(this.#addresses, MAX_REVOCATIONS)
    trimOldest(this.#endedRooms, MAX_REVOCATIONS)
    if (this.#file === null) return
    const list: RevocationFile = {
      version: 1,
      devices: [...this.#devices.values()],
      addresses: [...this.#addresses.values()],
      endedRooms: [...this.#endedRooms],
    }
    // Write then rename: a crash mid-write must not leave a half list that refuses to load.
    mkdirSync(join(this.#file, '..'), { recursive: true, mode: 0o700 })
    const temporary = `${this.#file}.${process.pid}.tmp`
    writeFileSync(temporary, `${JSON.stringify(list)}\n`, { mode: 0o600 })
    renameSync(temporary, this.#file)
  }
}

function readList(file: string): RevocationFile | null {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return null
    throw error
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  const parsed = FileSchema.safeParse(json)
  if (!parsed.success) {
    throw new Error(
      `${file} is not a Cohort revocation list (${parsed.error.issues[0]?.message ?? 'unreadable'}); fix or delete it — deleting it lets removed devices and banned addresses back in`,
    )
  }
  return parsed.data
}

/** Drops the oldest entries (insertion order) beyond `max`. */
function trimOldest<K>(entries: Map<K, unknown> | Set<K>, max: number): void {
  for (const key of entries.keys()) {
    if (entries.size <= max) return
    entries.delete(key)
  }
}
