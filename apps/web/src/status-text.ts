import type { SignalingState } from '@cohort/mesh'

/** What a person reads for each signaling state. */
export const STATUS_TEXT: Record<SignalingState, string> = {
  connecting: 'Joining…',
  joined: 'Connected',
  reconnecting: 'Reconnecting…',
  failed: 'Could not join',
  closed: 'Left the room',
}
