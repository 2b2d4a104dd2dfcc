import {
  type HostKey,
  HostKeySchema,
  type ResumeToken,
  ResumeTokenSchema,
  type Role,
  type RoomCode,
} from '@cohort/protocol'

// Per tab: a reload keeps the device's identity, a second tab is a second device.
const resumeKey = (room: RoomCode, role: Role) => `cohort:resume:${room}:${role}`
// Per browser: the host can reopen the dashboard in a new tab.
const hostKeyKey = (room: RoomCode) => `cohort:host:${room}`

/** The resume token this tab holds for a room, if any. */
export function loadResumeToken(room: RoomCode, role: Role): ResumeToken | undefined {
  const parsed = ResumeTokenSchema.safeParse(sessionStorage.getItem(resumeKey(room, role)))
  return parsed.success ? parsed.data : undefined
}

/** Remembers this tab's resume token for a room. */
export function saveResumeToken(room: RoomCode, role: Role, token: ResumeToken): void {
  sessionStorage.setItem(resumeKey(room, role), token)
}

/** Forgets this tab's identity in a room (after leaving). */
export function forgetResumeToken(room: RoomCode, role: Role): void {
  sessionStorage.removeItem(resumeKey(room, role))
}

/** The host key this browser holds for a room, if any. */
export function loadHostKey(room: RoomCode): HostKey | undefined {
  const parsed = HostKeySchema.safeParse(localStorage.getItem(hostKeyKey(room)))
  return parsed.success ? parsed.data : undefined
}

/** Remembers the host key of a room this browser created. */
export function saveHostKey(room: RoomCode, key: HostKey): void {
  localStorage.setItem(hostKeyKey(room), key)
}
