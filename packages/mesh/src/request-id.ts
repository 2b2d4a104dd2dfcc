import type { RequestId } from '@cohort/protocol'

const prefix = (() => {
  // getRandomValues works outside secure contexts too (phones on plain http on a LAN).
  const bytes = crypto.getRandomValues(new Uint8Array(6))
  return Array.from(bytes, (byte) => byte.toString(36).padStart(2, '0')).join('')
})()
let counter = 0

/** A request id unique across devices: a random per-page prefix and a counter. */
export function nextRequestId(): RequestId {
  counter++
  return `${prefix}-${counter.toString(36)}` as RequestId
}
