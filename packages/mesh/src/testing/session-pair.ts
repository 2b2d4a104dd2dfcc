import { type CohortError, type DeviceId, DeviceIdSchema } from '@cohort/protocol'
import {
  DEFAULT_RECEIVE_LIMITS,
  type HeartbeatOptions,
  PeerSession,
  type ReceiveLimits,
  type SessionEndReason,
} from '../peer-session.ts'
import type { RpcHandler } from '../rpc.ts'
import { type MemoryChannelEnd, memoryChannelPair } from './memory-channel.ts'

/** Peers of the receive-path tests. */
export const ALICE = DeviceIdSchema.parse('alice0001')
export const BOB = DeviceIdSchema.parse('bob000001')
export const CAROL = DeviceIdSchema.parse('carol0001')
/** Fast heartbeats, so fake time runs few ticks. */
export const TEST_HEARTBEAT: HeartbeatOptions = { intervalMs: 100, deadAfterMs: 500 }
/** A handler that answers a request with its own frames. */
export const echo: RpcHandler = async (request) => ({ frames: request.frames })

/** What one side's session reported. */
export interface SessionLog {
  /** Each bad-message report: the latest error and how many bad frames it stands for. */
  readonly bad: { readonly error: CohortError; readonly count: number }[]
  readonly ended: SessionEndReason[]
}

/** One side of a session pair: its session, its channel end and what it reported. */
export interface SessionSide {
  readonly session: PeerSession
  /** This side's channel end: what is sent on it arrives at the other side's session. */
  readonly end: MemoryChannelEnd
  readonly log: SessionLog
}

/** Options of `sessionPair`. */
export interface SessionPairOptions {
  readonly ids: readonly [DeviceId, DeviceId]
  readonly heartbeat: HeartbeatOptions
  readonly handlers?: Readonly<Record<string, RpcHandler>>
  readonly limits?: ReceiveLimits
}

/** Two sessions over an in-memory channel pair, both serving `handlers`. */
export function sessionPair(options: SessionPairOptions): readonly [SessionSide, SessionSide] {
  const [firstEnd, secondEnd] = memoryChannelPair()
  const open = (peer: DeviceId, end: MemoryChannelEnd): SessionSide => {
    const log: SessionLog = { bad: [], ended: [] }
    const session = new PeerSession(
      peer,
      end,
      (method) => options.handlers?.[method],
      {
        onBadMessage: (error, count) => void log.bad.push({ error, count }),
        onEnd: (reason) => void log.ended.push(reason),
      },
      options.heartbeat,
      options.limits ?? DEFAULT_RECEIVE_LIMITS,
    )
    end.onMessage((bytes) => session.deliver(bytes))
    return { session, end, log }
  }
  const [first, second] = options.ids
  return [open(second, firstEnd), open(first, secondEnd)]
}

/** Bad frames a log's reports stand for together. */
export const reportedBadFrames = (log: SessionLog) =>
  log.bad.reduce((sum, report) => sum + report.count, 0)
