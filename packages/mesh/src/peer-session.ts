import {
  CohortError,
  type DeviceId,
  decodePeerMessage,
  encodePeerMessage,
  type PeerMeta,
  type Result,
  type Tensor,
  type TensorFrame,
  toCohortError,
} from '@cohort/protocol'
import type { ByteChannel } from './byte-channel.ts'
import { type HandlerLookup, type RequestOptions, RpcEndpoint, type RpcReply } from './rpc.ts'
import { SilenceWatch } from './silence-watch.ts'
import { ChunkAssembler, ChunkSender } from './transfer.ts'

/** Liveness timing. A peer silent for `deadAfterMs` is declared gone even if no close event fires. */
export interface HeartbeatOptions {
  readonly intervalMs: number
  readonly deadAfterMs: number
}

/** Heartbeat every 400 ms; gone after 2 s of silence: at most 2.4 s, inside the 3 s the product promises. */
export const DEFAULT_HEARTBEAT: HeartbeatOptions = { intervalMs: 400, deadAfterMs: 2_000 }

/** Why a session ended. */
export type SessionEndReason = 'closed' | 'silent' | 'channel-error' | 'replaced' | 'left'

/** What a session reports to its owner. */
export interface SessionEvents {
  /** A message that failed to decode or validate (logged, then dropped). */
  onBadMessage(error: CohortError): void
  /** The session ended; it is unusable from now on. */
  onEnd(reason: SessionEndReason): void
}

/**
 * One open data channel to one peer: chunked transfers with backpressure, request/response,
 * heartbeats and dead-peer detection.
 */
export class PeerSession {
  private readonly sender: ChunkSender
  private readonly assembler = new ChunkAssembler()
  private readonly rpc: RpcEndpoint
  private readonly heartbeatTimer: ReturnType<typeof setInterval>
  private readonly silence: SilenceWatch
  private ended = false
  private smoothedRttMs: number | null = null

  constructor(
    readonly peerId: DeviceId,
    channel: ByteChannel,
    lookup: HandlerLookup,
    private readonly events: SessionEvents,
    private readonly heartbeat: HeartbeatOptions = DEFAULT_HEARTBEAT,
  ) {
    this.sender = new ChunkSender(channel)
    this.rpc = new RpcEndpoint(peerId, (meta, frames) => this.sendMessage(meta, frames), lookup)
    this.silence = new SilenceWatch(
      heartbeat.intervalMs,
      heartbeat.deadAfterMs / 2,
      performance.now(),
    )
    this.heartbeatTimer = setInterval(() => this.tick(), heartbeat.intervalMs)
    this.sendHeartbeat()
  }

  /** Takes one chunk received from the channel. */
  deliver(chunk: Uint8Array): void {
    if (this.ended) return
    this.silence.heard(performance.now())
    const assembled = this.assembler.push(chunk)
    if (!assembled.ok) {
      this.events.onBadMessage(assembled.error)
      return
    }
    if (!assembled.value) return
    const message = decodePeerMessage(assembled.value)
    if (!message.ok) {
      this.events.onBadMessage(message.error)
      return
    }
    this.rpc.receive(message.value)
  }

  /** Sends a request to the peer; resolves with exactly one outcome. */
  request(
    method: string,
    tensors: readonly Tensor[],
    options: RequestOptions,
  ): Promise<Result<RpcReply, CohortError>> {
    return this.rpc.request(method, tensors, options).then((outcome) => {
      if (outcome.ok) this.observeRtt(outcome.value)
      return outcome
    })
  }

  /** Smoothed round trip of recent requests minus the responder's serving time, in ms. */
  get rttMs(): number | null {
    return this.smoothedRttMs
  }

  /** Whether the session still works. */
  get open(): boolean {
    return !this.ended
  }

  /** Ends the session: pending requests fail with `peer-gone`, running handlers are aborted. */
  end(reason: SessionEndReason): void {
    if (this.ended) return
    this.ended = true
    clearInterval(this.heartbeatTimer)
    const error = new CohortError('peer-gone', `peer ${this.peerId} is gone (${reason})`)
    this.rpc.close(error)
    this.sender.close(error)
    this.events.onEnd(reason)
  }

  private sendMessage(meta: PeerMeta, frames: readonly TensorFrame[]): Promise<void> {
    try {
      return this.sender.send(encodePeerMessage(meta, frames))
    } catch (error) {
      // An unencodable message is the sender's bug: fail this request, not the session.
      return Promise.reject(toCohortError(error, 'bad-frame'))
    }
  }

  private sendHeartbeat(): void {
    this.sendMessage({ type: 'heartbeat', sentAt: Date.now() }, []).catch(() => {
      // A failed heartbeat means the channel is gone; the silence check ends the session.
    })
  }

  private tick(): void {
    if (this.silence.tick(performance.now()) > this.heartbeat.deadAfterMs) {
      this.end('silent')
      return
    }
    this.sendHeartbeat()
  }

  private observeRtt(reply: RpcReply): void {
    const network = Math.max(0, reply.roundTripMs - (reply.timings.serveMs ?? 0))
    this.smoothedRttMs =
      this.smoothedRttMs === null ? network : 0.8 * this.smoothedRttMs + 0.2 * network
  }
}
