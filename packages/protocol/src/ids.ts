import { z } from 'zod'

/** Crockford base32: no I, L, O or U, so codes survive being read aloud and typed. */
export const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** 13 base32 characters = 65 bits of randomness: unguessable, still typeable. */
export const ROOM_CODE_LENGTH = 13

/** A room's code as the server issues it: 13 upper-case Crockford base32 characters. */
export const RoomCodeSchema = z
  .string()
  .regex(
    /^[0-9A-HJKMNP-TV-Z]{13}$/,
    'a room code is 13 characters of 0-9 and A-Z without I, L, O, U',
  )
  .brand<'RoomCode'>()
/** A room's code. */
export type RoomCode = z.infer<typeof RoomCodeSchema>

/** A device's id within its room. */
export const DeviceIdSchema = z
  .string()
  .regex(/^[0-9a-z]{8,16}$/, 'a device id is 8-16 characters of 0-9 and a-z')
  .brand<'DeviceId'>()
/** A device's id within its room. */
export type DeviceId = z.infer<typeof DeviceIdSchema>

/** Shared by a request and its reply. */
export const RequestIdSchema = z
  .string()
  .regex(/^[0-9A-Za-z_-]{1,64}$/, 'a request id is 1-64 characters of 0-9, A-Z, a-z, _ and -')
  .brand<'RequestId'>()
/** Shared by a request and its reply. */
export type RequestId = z.infer<typeof RequestIdSchema>

/** Proof of a device's identity, so a reload or a server restart gives its id back. */
export const ResumeTokenSchema = z
  .string()
  .regex(/^[0-9A-Za-z_-]{16,128}$/, 'a resume token is 16-128 url-safe characters')
  .brand<'ResumeToken'>()
/** Proof of a device's identity. */
export type ResumeToken = z.infer<typeof ResumeTokenSchema>

/** Proof of the host role in a room, handed out once when the room is created. */
export const HostKeySchema = z
  .string()
  .regex(/^[0-9A-Za-z_-]{16,128}$/, 'a host key is 16-128 url-safe characters')
  .brand<'HostKey'>()
/** Proof of the host role in a room. */
export type HostKey = z.infer<typeof HostKeySchema>

/**
 * Turns what a person typed (lower case, dashes, spaces, I/L for 1, O for 0) into a room code,
 * or null when it cannot be one.
 */
export function normalizeRoomCode(typed: string): RoomCode | null {
  const cleaned = typed.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0')
  const parsed = RoomCodeSchema.safeParse(cleaned)
  return parsed.success ? parsed.data : null
}

/** Groups a room code for reading aloud: `ABCD-EFGH-JKMNP`. */
export function formatRoomCode(code: RoomCode): string {
  return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`
}
