import type { ClientMessage, ErrorData, Role } from '@cohort/protocol'

/** Who sends a message: a member of a room in its role, or a socket in no room yet. */
export type Standing = Role | 'stranger'

/**
 * Which message each standing may send: the one place roles are enforced. Hosts steer their room
 * and report the failures their requests saw; devices serve and report their profile and loaded models; requesters
 * only link to devices and send them work (their failure reports are not taken: anyone with the
 * code can be one, and the planner must not be steered by what they claim); a socket in no room
 * may only create or join one.
 */
const ALLOWED: { readonly [T in ClientMessage['type']]: readonly Standing[] } = {
  'create-room': ['stranger', 'device', 'host', 'requester'],
  'join-room': ['stranger', 'device', 'host', 'requester'],
  signal: ['device', 'host', 'requester'],
  // Leaving when in no room is a harmless no-op (a page closing before it joined).
  leave: ['stranger', 'device', 'host', 'requester'],
  profile: ['device'],
  loaded: ['device'],
  report: ['host'],
  'set-task': ['host'],
  'set-ensemble-k': ['host'],
  'remove-device': ['host'],
  'lock-room': ['host'],
  'end-room': ['host'],
}

/** Null when `standing` may send a message of `type`, else the typed error to answer with. */
export function refusal(standing: Standing, type: ClientMessage['type']): ErrorData | null {
  if (ALLOWED[type].includes(standing)) return null
  if (standing === 'stranger') return { code: 'not-in-room', message: 'Join a room first.' }
  return {
    code: 'forbidden',
    message: `A ${standing} may not send ${type}; only a ${ALLOWED[type].join(' or ')} may.`,
  }
}
