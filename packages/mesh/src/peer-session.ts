import {
  CohortError,
  type DeviceId,
  decodePeerMessage,
  encodePeerMessage,
  firstChunkProblem,
  type PeerMeta,
  type Result,
  type Tensor,
  type TensorFrame,
  toCohortError,
} from '@cohort/protocol'
import { type BadFrameLimits, BadFrameMonitor, DEFAULT_BAD_FRAME_LIMITS } from './bad-frames.ts'
import type { ByteChannel } from './byte-channel.ts'
import { ChunkAssembler } from './chunk-assembler.ts'
import { LinkEstimate } from './link-estimate.ts'
import { type HandlerLookup, type RequestOptions, RpcEndpoint, type RpcReply } from './rpc.ts'
import { SilenceWatch } from './silence-watch.ts'
import { type AssemblerLimits, ChunkSender, DEFAULT_ASSEMBLER_LIMITS } from './transfer.ts'

/** Liveness timing. A peer silent for `deadAfterMs` is declared gone even if no close event fires. */
export interface HeartbeatOptions {
  readonly intervalMs: number
  readonly deadAfterMs: number
}

/** Heartbeat every 400 ms; gone after 2 s of silence: at most 2.4 s, inside the 3 s the product promises. */
export const DEFAULT_HEARTBEAT: HeartbeatOptions = { intervalMs: 400, deadAfterMs: 2_000 }

/** What a peer may make this device hold and how many bad frames it may send. */
export interface ReceiveLimits {
  readonly transfers: AssemblerLimits
  readonly badFrames: BadFrameLimits
}

/** The limits every peer meets; see DEFAULT_ASSEMBLER_LIMITS and DEFAULT_BAD_FRAME_LIMITS. */
export const DEFAULT_RECEIVE_LIMITS: ReceiveLimits = {
  transfers: DEFAULT_ASSEMBLER_LIMITS,
  badFrames: DEFAULT_BAD_FRAME_LIMITS,
}

/** Why a session ended; `misbehaving`: the peer sent more bad frames than the limit allows. */
export type SessionEndReason =
  | 'closed'
  | 'silent'
  | 'channel-error'
  | 'replaced'
  | 'left'
  | 'misbehaving'
  /** No plan needs the link any more (a device's links follow the plan). */
  | 'unplanned'

/** What this session has received and holds from its peer. */
export interface ReceiveStats {
  /** Bad frames since the session started (dropped chunks and messages, expired transfers). */
  readonly badFrames: number
  readonly openTransfers: number
  /** Bytes the open transfers announce, at most the limit's maxOpenBytes. */
  readonly announcedBytes: number
  /** Bytes of buffers the open transfers hold, at most what they announce. */
  readonly heldBytes: number
}

/** What a session reports to its owner. */
export interface SessionEvents {
  /**
   * Bad frames, dropped: the first at once, then at most one call per report interval with the
   * latest error and how many frames it stands for (`periodMs`: time since the previous call).
   */
  onBadMessage(error: CohortError, count: number, periodMs: number): void
  /** The session ended; it is unusable from now on. */
  onEnd(reason: SessionEndReason): void
}

/**
 * One open data channel to one peer: chunked transfers with backpressure, request/response,
 * heartbeats and dead-peer detection.
 *
 * Liveness is about the link, not the peer's manners: every message that arrives, garbage
 * included, proves the link alive. Garbage is instead bounded where it costs: a bad frame is
 * counted (no allocation, no log line, no event of its own), open transfers are limited in bytes
 * and time, and a peer sending more bad frames than the limit is cut off as `misbehaving`.
 */
export class PeerSession {
  private readonly sender: ChunkSender
  private readonly assembler: ChunkAssembler
  private readonly badFrames: BadFrameMonitor
  private readonly rpc: RpcEndpoint
  private readonly heartbeatTimer: ReturnType<typeof setInterval>
  private readonly silence: SilenceWatch
  private readonly transferIdleMs: number
  private ended = false
  private readonly link = new LinkEstimate()

  constructor(
    readonly peerId: DeviceId,
    channel: ByteChannel,
    lookup: HandlerLookup,
    private readonly events: SessionEvents,
    private readonly heartbeat: HeartbeatOptions = DEFAULT_HEARTBEAT,
    limits: ReceiveLimits = DEFAULT_RECEIVE_LIMITS,
  ) {
    this.sender = new ChunkSender(channel, limits.transfers)
    this.transferIdleMs = limits.transfers.idleMs
    // The first chunk of a transfer starts with its peer message's header: a transfer that
    // cannot hold a peer message of its announced size is refused before any of it is held.
    this.assembler = new ChunkAssembler(limits.transfers, { admit: firstChunkProblem })
    this.badFrames = new BadFrameMonitor(limits.badFrames, ({ latest, count, periodMs }) =>
      this.events.onBadMessage(latest, count, periodMs),
    )
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
    const now = performance.now()
    this.silence.heard(now)
    const assembled = this.assembler.push(chunk)
    if (!assembled.ok) {
      this.badFrame(assembled.error, now)
      return
    }
    if (!assembled.value) return
    const message = decodePeerMessage(assembled.value)
    if (!message.ok) {
      this.badFrame(message.error, now)
      return
    }
    this.rpc.receive(message.value)
  }

  /** What this session has received and holds from its peer. */
  get receiveStats(): ReceiveStats {
    return {
      badFrames: this.badFrames.total,
      openTransfers: this.assembler.openTransfers,
      announcedBytes: this.assembler.announcedBytes,
      heldBytes: this.assembler.heldBytes,
    }
  }

  /** Sends a request to the peer; resolves with exactly one outcome. */
  request(
    method: string,
    tensors: readonly Tensor[],
    options: RequestOptions,
  ): Promise<Result<RpcReply, CohortError>> {
    return this.rpc.request(method, tensors, options).then((outcome) => {
      if (outcome.ok) this.observeLink(tensors, outcome.value)
      return outcome
    })
  }

  /** Smoothed network round trip of an empty message (serving time taken out), in ms. */
  get rttMs(): number | null {
    return this.link.rttMs
  }

  /** Smoothed bandwidth of the link, bytes per ms, once it carried a large message. */
  get bytesPerMs(): number | null {
    return this.link.bytesPerMs
  }

  /** Requests in either direction not yet answered. */
  get inFlight(): number {
    return this.rpc.inFlight
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
    this.badFrames.drain(performance.now())
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
    const now = performance.now()
    if (this.silence.tick(now) > this.heartbeat.deadAfterMs) {
      this.end('silent')
      return
    }
    const expired = this.assembler.sweep(now)
    for (let index = 0; index < expired && !this.ended; index++) {
      const why = `an open transfer got no chunk for ${this.transferIdleMs} ms and was dropped`
      this.badFrame(new CohortError('bad-frame', why), now)
    }
    if (this.ended) return
    this.badFrames.flush(now)
    this.sendHeartbeat()
  }

  private badFrame(error: CohortError, now: number): void {
    if (this.badFrames.record(error, now)) this.end('misbehaving')
  }

  private observeLink(sent: readonly Tensor[], reply: RpcReply): void {
    const bytes = [...sent, ...reply.frames].reduce(
      (sum, tensor) => sum + tensor.data.byteLength,
      0,
    )
    this.link.observe(bytes, reply.roundTripMs - (reply.timings.serveMs ?? 0))
  }
}
