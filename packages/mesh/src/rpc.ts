import {
  CohortError,
  type DeviceId,
  type ErrorCode,
  err,
  type Json,
  ok,
  type PeerMessage,
  type PeerMeta,
  type RequestId,
  type Result,
  type Tensor,
  type TensorFrame,
  toCohortError,
} from '@cohort/protocol'
import { nextRequestId } from './request-id.ts'

/**
 * Most requests one peer may have running on this device at once: far above what a requester's
 * window asks of one device, low enough that a peer cannot make it hold unbounded work.
 */
export const MAX_RUNNING_PER_PEER = 256

/** What a requester gets back. */
export interface RpcReply {
  readonly frames: readonly TensorFrame[]
  /** The responder's own timings, in ms. */
  readonly timings: Readonly<Record<string, number>>
  /** The method's answer, unvalidated: parse it with the method's schema (undefined if none). */
  readonly payload: unknown
  /** Wall time from sending the request to receiving the reply, in ms. */
  readonly roundTripMs: number
}

/** Options of one request. */
export interface RequestOptions {
  /** The request fails with `timeout` after this many ms; the responder gets the same budget. */
  readonly deadlineMs: number
  /** Aborting cancels the request: the outcome is `cancelled` and the responder is told. */
  readonly signal?: AbortSignal
  /** The method's parameters (never tensors), as its schema in protocol's peer-methods says. */
  readonly payload?: Json
}

/** What a handler receives. */
export interface IncomingRequest {
  readonly from: DeviceId
  readonly method: string
  readonly frames: readonly TensorFrame[]
  /** The method's parameters, unvalidated: the handler parses them with the method's schema. */
  readonly payload: unknown
  readonly deadlineMs: number
  /** Aborted when the requester cancels, the deadline passes or the peer is gone. */
  readonly signal: AbortSignal
}

/** What a handler answers. */
export interface HandlerReply {
  readonly frames: readonly Tensor[]
  readonly timings?: Readonly<Record<string, number>>
  /** The method's answer, as its schema in protocol's peer-methods says. */
  readonly payload?: Json
}

/** Serves one method. Throwing a CohortError answers the requester with its code. */
export type RpcHandler = (request: IncomingRequest) => Promise<HandlerReply>

/** Looks up the handler of a method. */
export type HandlerLookup = (method: string) => RpcHandler | undefined

/** Sends one peer message; rejects when the link is gone. */
export type SendMessage = (meta: PeerMeta, frames: readonly TensorFrame[]) => Promise<void>

interface PendingRequest {
  readonly startedAt: number
  readonly settle: (outcome: Result<RpcReply, CohortError>) => void
}

/** Stamps tensors with a request's id and kind, without copying their data. */
export function toFrames(
  tensors: readonly Tensor[],
  requestId: RequestId,
  kind: TensorFrame['kind'],
): TensorFrame[] {
  return tensors.map((tensor) => ({ ...tensor, requestId, kind }) as TensorFrame)
}

/**
 * Request/response over one peer link. Every request ends in exactly one outcome: the reply,
 * or a typed error (`timeout`, `cancelled`, `peer-gone`, or the responder's error).
 */
export class RpcEndpoint {
  private readonly pending = new Map<string, PendingRequest>()
  private readonly running = new Map<string, AbortController>()
  private closedWith: CohortError | null = null

  constructor(
    private readonly peerId: DeviceId,
    private readonly send: SendMessage,
    private readonly lookup: HandlerLookup,
  ) {}

  /** Sends a request; resolves with exactly one outcome, never rejects. */
  request(
    method: string,
    tensors: readonly Tensor[],
    options: RequestOptions,
  ): Promise<Result<RpcReply, CohortError>> {
    if (this.closedWith) return Promise.resolve(err(this.closedWith))
    if (options.signal?.aborted)
      return Promise.resolve(
        err(new CohortError('cancelled', 'request cancelled before it was sent')),
      )
    const requestId = nextRequestId()
    const startedAt = performance.now()
    return new Promise((resolve) => {
      const cleanup = () => {
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
        this.pending.delete(requestId)
      }
      const settle = (outcome: Result<RpcReply, CohortError>) => {
        if (!this.pending.has(requestId)) return
        cleanup()
        resolve(outcome)
      }
      const cancelRemote = () => {
        this.send({ type: 'cancel', requestId }, []).catch(() => {
          // The link is gone: the responder is gone with it, nothing to cancel.
        })
      }
      const onAbort = () => {
        settle(
          err(new CohortError('cancelled', `request ${method} to ${this.peerId} was cancelled`)),
        )
        cancelRemote()
      }
      const timer = setTimeout(() => {
        settle(
          err(
            new CohortError(
              'timeout',
              `${method} to ${this.peerId} got no answer within ${options.deadlineMs} ms`,
            ),
          ),
        )
        cancelRemote()
      }, options.deadlineMs)
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(requestId, { startedAt, settle })
      const meta: PeerMeta = {
        type: 'request',
        requestId,
        method,
        deadlineMs: options.deadlineMs,
        ...(options.payload === undefined ? {} : { payload: options.payload }),
      }
      this.send(meta, toFrames(tensors, requestId, 'request')).catch((error: unknown) => {
        settle(err(toCohortError(error, 'peer-gone')))
      })
    })
  }

  /** Handles one decoded message from the peer (all but heartbeats). */
  receive(message: PeerMessage): void {
    const { meta } = message
    switch (meta.type) {
      case 'request':
        this.serve(meta, message.frames)
        return
      case 'response': {
        const pending = this.pending.get(meta.requestId)
        pending?.settle(
          ok({
            frames: message.frames,
            timings: meta.timings ?? {},
            payload: meta.payload,
            roundTripMs: performance.now() - pending.startedAt,
          }),
        )
        return
      }
      case 'error':
        this.pending.get(meta.requestId)?.settle(err(CohortError.from(meta)))
        return
      case 'cancel':
        this.running
          .get(meta.requestId)
          ?.abort(new CohortError('cancelled', 'the requester cancelled'))
        return
      case 'heartbeat':
        return
    }
  }

  /** Requests awaiting an answer. */
  get pendingCount(): number {
    return this.pending.size
  }

  /** Requests this side awaits plus the peer's requests this side is still serving. */
  get inFlight(): number {
    return this.pending.size + this.running.size
  }

  /** Fails every pending request and aborts every running handler. */
  close(error: CohortError): void {
    if (this.closedWith) return
    this.closedWith = error
    for (const pending of [...this.pending.values()]) pending.settle(err(error))
    for (const controller of this.running.values()) controller.abort(error)
    this.running.clear()
  }

  /** Why a request may not run, if it may not: a peer keeps a bounded number running here. */
  private refusal(requestId: RequestId): { code: ErrorCode; message: string } | null {
    if (this.running.has(requestId))
      return { code: 'bad-message', message: `request ${requestId} is already running` }
    if (this.running.size >= MAX_RUNNING_PER_PEER)
      return {
        code: 'rate-limited',
        message: `this device is already serving ${MAX_RUNNING_PER_PEER} of your requests`,
      }
    return null
  }

  private serve(
    meta: Extract<PeerMeta, { type: 'request' }>,
    frames: readonly TensorFrame[],
  ): void {
    const { requestId, method } = meta
    const handler = this.lookup(method)
    if (!handler) {
      this.reply(
        {
          type: 'error',
          requestId,
          code: 'no-handler',
          message: `this device does not serve ${method}`,
        },
        [],
      )
      return
    }
    const refusal = this.refusal(requestId)
    if (refusal) {
      this.reply({ type: 'error', requestId, ...refusal }, [])
      return
    }
    const controller = new AbortController()
    const timer = setTimeout(
      () =>
        controller.abort(new CohortError('timeout', `deadline of ${meta.deadlineMs} ms passed`)),
      meta.deadlineMs,
    )
    this.running.set(requestId, controller)
    const startedAt = performance.now()
    const request: IncomingRequest = {
      from: this.peerId,
      method,
      frames,
      payload: meta.payload,
      deadlineMs: meta.deadlineMs,
      signal: controller.signal,
    }
    // A handler that throws before returning its promise is answered like one that rejects,
    // rather than throwing into the data channel's listener and leaving the requester waiting.
    new Promise<HandlerReply>((resolve) => resolve(handler(request)))
      .then((reply) => {
        if (controller.signal.aborted) return
        const timings = { serveMs: performance.now() - startedAt, ...reply.timings }
        this.reply(
          {
            type: 'response',
            requestId,
            timings,
            ...(reply.payload === undefined ? {} : { payload: reply.payload }),
          },
          toFrames(reply.frames, requestId, 'response'),
        )
      })
      .catch((error: unknown) => {
        if (controller.signal.aborted) return
        const cohortError = toCohortError(error, 'handler-failed')
        // The wire caps messages at 1 KiB; a longer one would make the whole reply undecodable.
        const message = cohortError.message.slice(0, 1_000)
        this.reply({ type: 'error', requestId, code: cohortError.code, message }, [])
      })
      .finally(() => {
        clearTimeout(timer)
        this.running.delete(requestId)
      })
  }

  private reply(meta: PeerMeta, frames: readonly TensorFrame[]): void {
    this.send(meta, frames).catch((error: unknown) => {
      // A gone link needs no answer: the requester already ended the request with peer-gone.
      // A response that cannot be sent for another reason (say, frames that do not encode)
      // still owes the requester an answer, or it would wait for its deadline.
      const cohortError = toCohortError(error, 'peer-gone')
      if (meta.type !== 'response' || cohortError.code === 'peer-gone') return
      const message = cohortError.message.slice(0, 1_000)
      this.reply({ type: 'error', requestId: meta.requestId, code: cohortError.code, message }, [])
    })
  }
}
