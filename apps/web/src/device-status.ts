import type { SignalingState } from '@cohort/mesh'

/** The one big status a phone shows. */
export type DevicePhase =
  | 'joining'
  | 'downloading'
  | 'ready'
  | 'serving'
  | 'reconnecting'
  | 'left'
  | 'error'

/** Where the runtime is, reduced to what the status needs. */
export interface RuntimeProgress {
  readonly phase:
    | 'downloading'
    | 'starting'
    | 'calibrating'
    | 'loading'
    | 'profiling'
    | 'ready'
    | 'failed'
  readonly bytesDone: number
  readonly bytesTotal: number
  readonly error: string | null
}

/** Everything the status is derived from. */
export interface DeviceStatusInput {
  readonly signaling: SignalingState
  /** Whether the coordinator ever welcomed this page (a later `connecting` is a reconnect). */
  readonly everJoined: boolean
  /** Why the page stopped for good, if it did. */
  readonly ended: 'left' | 'removed' | 'replaced' | 'ended' | null
  /** Why a join failed for good (room gone, version mismatch, …). */
  readonly joinError: string | null
  /** Null until the runtime's chunk has loaded. */
  readonly runtime: RuntimeProgress | null
  /** Why the runtime's chunk could not load. */
  readonly runtimeLoadError: string | null
  /** Other members in the room, and how many of them this page has an open data channel to. */
  readonly peers: { readonly total: number; readonly open: number }
  /** Whether any data channel was ever open: losing all of them then means peers were lost. */
  readonly everLinked: boolean
  /** A host (dashboard) was in the room with this page and is no longer. */
  readonly hostLeft: boolean
  /** Requests this device answered. */
  readonly served: number
}

/** The status as the page renders it. */
export interface DeviceStatus {
  readonly phase: DevicePhase
  /** The big line. */
  readonly text: string
  /** The small line under it: what is going on, or what to do next. */
  readonly detail: string
  /** Download progress, 0–100, while downloading. */
  readonly progress: number | null
  readonly served: number
}

const PREPARING: Record<RuntimeProgress['phase'], string> = {
  downloading: 'Downloading the models.',
  starting: 'Starting the inference engine.',
  calibrating: 'Measuring which engine is fastest here.',
  loading: 'Loading the models.',
  profiling: 'Measuring this device.',
  ready: '',
  failed: '',
}

/** Whole percent of the model bytes loaded; 0 before the sizes are known. */
export function downloadPercent(bytesDone: number, bytesTotal: number): number {
  if (bytesTotal <= 0) return 0
  return Math.min(100, Math.floor((100 * bytesDone) / bytesTotal))
}

/**
 * Derives the page's one status. The order is the order of what matters to the person holding
 * the phone: an end they chose or were given, an error they must act on, a lost connection,
 * then the way to ready and serving.
 */
export function deviceStatus(input: DeviceStatusInput): DeviceStatus {
  const { served } = input
  const status = (
    phase: DevicePhase,
    text: string,
    detail: string,
    progress: number | null = null,
  ) => ({ phase, text, detail, progress, served }) satisfies DeviceStatus
  switch (input.ended) {
    case 'left':
      return status(
        'left',
        'You left',
        'This device no longer serves the room. Join again to help.',
      )
    case 'removed':
      return status('left', 'Removed', 'The host took this device out of the room.')
    case 'replaced':
      return status('left', 'Moved to another tab', 'This device continues in the other tab.')
    case 'ended':
      return status('left', 'Room ended', 'The host ended this room. Thank you for helping.')
    case null:
      break
  }
  if (input.signaling === 'failed') {
    return status(
      'error',
      'Could not join',
      `${input.joinError ?? 'The room refused this device.'}`,
    )
  }
  if (input.signaling === 'closed') {
    return status('left', 'Disconnected', 'This page no longer talks to the room. Join again.')
  }
  const runtimeError =
    input.runtimeLoadError ?? (input.runtime?.phase === 'failed' ? input.runtime.error : null)
  if (runtimeError !== null) {
    return status('error', 'Cannot serve', `${runtimeError} Reload the page to try again.`)
  }
  if (
    input.signaling === 'reconnecting' ||
    (input.signaling === 'connecting' && input.everJoined)
  ) {
    return status('reconnecting', 'Reconnecting…', 'Lost the room’s server; trying again.')
  }
  if (input.signaling === 'connecting') {
    return status('joining', 'Joining…', 'Contacting the room.')
  }
  const runtime = input.runtime
  if (runtime === null || runtime.phase !== 'ready') {
    const percent = runtime ? downloadPercent(runtime.bytesDone, runtime.bytesTotal) : 0
    const downloading = runtime === null || runtime.phase === 'downloading'
    return status(
      'downloading',
      downloading ? `Downloading ${percent}%` : 'Getting ready…',
      PREPARING[runtime?.phase ?? 'downloading'],
      downloading ? percent : 100,
    )
  }
  if (input.everLinked && input.peers.total > 0 && input.peers.open === 0) {
    return status(
      'reconnecting',
      'Reconnecting…',
      'Lost the links to the other devices; re-forming them.',
    )
  }
  // Without its host the room goes on (apps may still send work; the host may come back).
  const hostLeft = input.hostLeft
    ? 'The host left. This device stays in the room, for apps and for the host’s return.'
    : null
  if (served > 0) {
    return status(
      'serving',
      `Serving · ${served} request${served === 1 ? '' : 's'}`,
      hostLeft ?? 'Keep this page open.',
    )
  }
  return status(
    'ready',
    'Ready',
    hostLeft ?? 'Waiting for the room’s requests. Keep this page open.',
  )
}
