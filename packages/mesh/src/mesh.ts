import {
  type ClientMessage,
  CohortError,
  type DeviceId,
  err,
  type PeerInfo,
  type Plan,
  type Result,
  type ServerPush,
  type ServerReply,
  type SignalData,
  type Tensor,
} from '@cohort/protocol'
import { ECHO_METHOD, echoHandler } from './echo.ts'
import { openPeerLink, type PeerLink, type WebRtcImplementation } from './peer-link.ts'
import {
  DEFAULT_HEARTBEAT,
  type HeartbeatOptions,
  PeerSession,
  type SessionEndReason,
} from './peer-session.ts'
import type { RequestOptions, RpcHandler, RpcReply } from './rpc.ts'
import {
  type JoinOptions,
  SignalingClient,
  type SignalingState,
  type Welcome,
} from './signaling-client.ts'

/** Options of a mesh member. */
export interface MeshOptions extends JoinOptions {
  /** Which peers to hold a data channel to; all of them by default. */
  readonly wants?: (peer: PeerInfo) => boolean
  readonly heartbeat?: HeartbeatOptions
  /** The WebRTC implementation where there is none built in (Node). */
  readonly webrtc?: WebRtcImplementation
}

/** A peer's data channel, as the mesh sees it. */
export type LinkState = 'connecting' | 'open' | 'closed'

/** A room member and the link to it. */
export interface PeerStatus {
  readonly info: PeerInfo
  readonly link: LinkState
  /** Smoothed network round trip of recent requests, in ms. */
  readonly rttMs: number | null
  /** Smoothed bandwidth of the link, bytes per ms, once it carried a large message. */
  readonly bytesPerMs: number | null
}

/** What a mesh reports to the page. */
export type MeshEvent =
  | { readonly type: 'signaling'; readonly state: SignalingState; readonly error?: CohortError }
  | { readonly type: 'welcome'; readonly welcome: Welcome }
  | { readonly type: 'peers' }
  | { readonly type: 'peer-gone'; readonly deviceId: DeviceId; readonly reason: string }
  /** Bad frames from a peer, at most one event per report interval: the latest and how many. */
  | {
      readonly type: 'bad-message'
      readonly from: DeviceId
      readonly error: CohortError
      readonly count: number
    }
  | { readonly type: 'plan'; readonly plan: Plan }
  /** This member must stop: the host removed it or ended the room, or another tab took over. */
  | { readonly type: 'removed'; readonly reason: 'removed' | 'replaced' | 'ended' }
  /** The host locked or unlocked the room. */
  | { readonly type: 'room-locked'; readonly locked: boolean }

interface PeerEntry {
  info: PeerInfo
  linkId: string | null
  link: PeerLink | null
  initiator: boolean
  session: PeerSession | null
  retryTimer: ReturnType<typeof setTimeout> | undefined
  retries: number
  /** Set while a link no longer wanted waits out its grace period. */
  retireTimer: ReturnType<typeof setTimeout> | undefined
}

const RECONNECT_BASE_MS = 1_000
const RECONNECT_MAX_MS = 10_000
/**
 * A link no plan wants stays up this long, and longer while requests on it are in flight: a
 * replan opens the new links at once and retires the old ones only after the requests that
 * started under the old plan had time to finish.
 */
export const RETIRE_AFTER_MS = 5_000
/** Longest a request waits for a link to open (see requestOverNewLink). */
export const LINK_WAIT_MS = 3_000
/**
 * Links this member offers that may be connecting at once; the others wait their turn. Every
 * connecting link gathers candidates (sockets) and runs ICE and DTLS handshakes: a member that
 * must link to a whole tier at once (a cloud member to 25 edge members, on a loaded machine)
 * otherwise has its handshakes time out together, retry together, and run out of descriptors.
 */
export const MAX_CONNECTING_OFFERS = 6

function randomLinkId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(8)), (byte) =>
    byte.toString(16).padStart(2, '0'),
  ).join('')
}

/**
 * A member of a room: joins through the coordinator, holds data channels to the peers it wants,
 * serves requests with registered handlers and sends requests to peers.
 *
 * Who connects: a newcomer offers to every peer it wants; when a link to a peer still in the
 * room breaks, the side with the smaller device id offers again, and the other side only if no
 * offer came by twice that delay (the peer may have forgotten the link: it saw this device leave
 * and come back while the link still looked open here). Crossed offers are settled by the
 * smaller id too, so two devices never wait on each other.
 */
export class Mesh {
  private readonly signaling: SignalingClient
  private readonly entries = new Map<DeviceId, PeerEntry>()
  private readonly handlers = new Map<string, RpcHandler>([[ECHO_METHOD, echoHandler]])
  private readonly listeners = new Set<(event: MeshEvent) => void>()
  private welcome: Welcome | null = null
  private latestPlan: Plan | null = null
  private locked = false
  private closed = false
  /** Peers whose offer waits for a connecting slot (MAX_CONNECTING_OFFERS), in order. */
  private readonly waitingOffers = new Set<PeerEntry>()

  constructor(private readonly options: MeshOptions) {
    this.signaling = new SignalingClient(options, {
      onWelcome: (welcome) => this.onWelcome(welcome),
      onPush: (push) => this.onPush(push),
      onState: (state, error) =>
        this.emit({ type: 'signaling', state, ...(error ? { error } : {}) }),
    })
  }

  /** This member's identity, once joined. */
  get self(): Welcome | null {
    return this.welcome
  }

  /** The room's latest plan, once the coordinator has sent one. */
  get plan(): Plan | null {
    return this.latestPlan
  }

  /** Whether the room takes new members (as of the last welcome or lock change). */
  get roomLocked(): boolean {
    return this.locked
  }

  /**
   * Offers a link to every peer `wants` now accepts and that has none (open or connecting), and
   * retires the links it no longer accepts after RETIRE_AFTER_MS with nothing in flight on them:
   * call it when what `wants` depends on changed (a new plan).
   */
  relink(): void {
    if (this.closed || this.signaling.current !== 'joined') return
    for (const entry of this.entries.values()) {
      if (this.wants(entry.info)) {
        clearTimeout(entry.retireTimer)
        entry.retireTimer = undefined
        if (!entry.link && !entry.session) this.offer(entry)
      } else if (entry.link && entry.retireTimer === undefined) {
        this.scheduleRetire(entry)
      }
    }
  }

  /** Sends a message to the coordinator (profile, report, host controls) and waits for its answer. */
  tellCoordinator(message: ClientMessage): Promise<Result<ServerReply, CohortError>> {
    return this.signaling.send(message)
  }

  /** The signaling connection's state. */
  get signalingState(): SignalingState {
    return this.signaling.current
  }

  /** Every other member of the room and the link to it. */
  peers(): PeerStatus[] {
    return [...this.entries.values()].map((entry) => ({
      info: entry.info,
      link: entry.session?.open ? 'open' : entry.link ? 'connecting' : 'closed',
      rttMs: entry.session?.rttMs ?? null,
      bytesPerMs: entry.session?.bytesPerMs ?? null,
    }))
  }

  /** Serves `method` for every peer; returns a function that stops serving it. */
  handle(method: string, handler: RpcHandler): () => void {
    this.handlers.set(method, handler)
    return () => {
      if (this.handlers.get(method) === handler) this.handlers.delete(method)
    }
  }

  /** Sends a request to a peer; resolves with exactly one outcome, never rejects. */
  request(
    peerId: DeviceId,
    method: string,
    tensors: readonly Tensor[],
    options: RequestOptions,
  ): Promise<Result<RpcReply, CohortError>> {
    const entry = this.entries.get(peerId)
    if (entry?.session?.open) return entry.session.request(method, tensors, options)
    return this.requestOverNewLink(entry, peerId, method, tensors, options)
  }

  /**
   * A request to a member without an open link: links follow the plan, and a request under a
   * newer plan may come before its link has opened. It waits for a link that is opening, or opens
   * one (a peer never linked, or whose link was retired), for at most LINK_WAIT_MS of its deadline.
   * A link that failed is left to its own retries: the request fails at once, so callers fail over.
   */
  private async requestOverNewLink(
    entry: PeerEntry | undefined,
    peerId: DeviceId,
    method: string,
    tensors: readonly Tensor[],
    options: RequestOptions,
  ): Promise<Result<RpcReply, CohortError>> {
    const notConnected = err(new CohortError('not-connected', `no open link to ${peerId}`))
    if (!entry || this.closed || this.signaling.current !== 'joined') return notConnected
    if (!entry.link) {
      if (entry.retries > 0) return notConnected
      this.offer(entry, true)
    }
    const startedAt = performance.now()
    const session = await this.whenOpen(entry, Math.min(options.deadlineMs, LINK_WAIT_MS), options)
    if (!session) return notConnected
    const deadlineMs = options.deadlineMs - (performance.now() - startedAt)
    if (deadlineMs <= 0)
      return err(new CohortError('timeout', `the link to ${peerId} opened too late for ${method}`))
    return session.request(method, tensors, { ...options, deadlineMs })
  }

  /** The entry's session once its link opens; null if it fails, the wait ends or is aborted. */
  private whenOpen(
    entry: PeerEntry,
    waitMs: number,
    options: RequestOptions,
  ): Promise<PeerSession | null> {
    return new Promise((resolve) => {
      const done = (session: PeerSession | null) => {
        clearTimeout(timer)
        unsubscribe()
        options.signal?.removeEventListener('abort', aborted)
        resolve(session)
      }
      const aborted = () => done(null)
      const timer = setTimeout(aborted, waitMs)
      options.signal?.addEventListener('abort', aborted, { once: true })
      const unsubscribe = this.subscribe(() => {
        const here = this.entries.get(entry.info.deviceId) === entry
        if (here && entry.session?.open) done(entry.session)
        else if (!here || !entry.link) done(null)
      })
      if (options.signal?.aborted) done(null)
    })
  }

  /**
   * Resolves true once a link to one of `peers` that is not open now opens, false when `signal`
   * ends first (or every one is open already): a request whose members were all unreachable can
   * try again within its deadline instead of failing at once.
   */
  whenAnyOpens(peers: readonly DeviceId[], signal: AbortSignal): Promise<boolean> {
    const closedNow = peers.filter((id) => !this.entries.get(id)?.session?.open)
    if (closedNow.length === 0 || signal.aborted || this.closed) return Promise.resolve(false)
    return new Promise((resolve) => {
      const done = (opened: boolean) => {
        unsubscribe()
        signal.removeEventListener('abort', aborted)
        resolve(opened)
      }
      const aborted = () => done(false)
      signal.addEventListener('abort', aborted, { once: true })
      const unsubscribe = this.subscribe(() => {
        if (closedNow.some((id) => this.entries.get(id)?.session?.open)) done(true)
      })
    })
  }

  /** Subscribes to mesh events; returns the unsubscribe function. */
  subscribe(listener: (event: MeshEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Leaves the room: every link and the signaling connection close. */
  leave(): void {
    if (this.closed) return
    this.closed = true
    for (const deviceId of [...this.entries.keys()]) this.forget(deviceId, 'left')
    this.signaling.close()
    this.listeners.clear()
  }

  private onWelcome(welcome: Welcome): void {
    this.welcome = welcome
    this.locked = welcome.locked
    this.emit({ type: 'welcome', welcome })
    const present = new Set(welcome.peers.map((peer) => peer.deviceId))
    for (const deviceId of [...this.entries.keys()]) {
      if (!present.has(deviceId)) this.forget(deviceId, 'left')
    }
    for (const info of welcome.peers) {
      const entry = this.entry(info)
      // Open links that survived a coordinator restart keep working. A link still connecting
      // was started while the signaling was down, so its offer or answer was lost: offer anew.
      if (!entry.session?.open && this.wants(info)) this.offer(entry)
    }
    this.emit({ type: 'peers' })
  }

  private onPush(push: ServerPush): void {
    switch (push.type) {
      case 'peer-joined':
        // The newcomer offers; an old link to the same id (a reload) is replaced by its offer.
        this.entry(push.peer)
        this.emit({ type: 'peers' })
        return
      case 'peer-left':
        if (push.deviceId === this.welcome?.deviceId) {
          // The host removed this device, or another tab took over its identity: stop for good.
          if (push.reason === 'removed' || push.reason === 'replaced') {
            const reason = push.reason
            this.emit({ type: 'removed', reason })
            this.leave()
          }
          return
        }
        this.forget(push.deviceId, push.reason)
        return
      case 'plan':
        // Versions only move forward; a late push of an older plan is ignored.
        if (
          this.latestPlan &&
          push.plan.version <= this.latestPlan.version &&
          push.plan.createdAt <= this.latestPlan.createdAt
        )
          return
        this.latestPlan = push.plan
        this.emit({ type: 'plan', plan: push.plan })
        return
      case 'signal':
        this.onSignal(push.from, push.linkId, push.data)
        return
      case 'room-locked':
        this.locked = push.locked
        this.emit({ type: 'room-locked', locked: push.locked })
        return
      case 'room-ended':
        this.emit({ type: 'removed', reason: 'ended' })
        this.leave()
        return
      case 'error':
        console.warn(`cohort: coordinator error ${push.code}: ${push.message}`)
        return
    }
  }

  private onSignal(from: DeviceId, linkId: string, data: SignalData): void {
    const entry = this.entries.get(from)
    if (!entry || !this.welcome) return
    if (linkId === entry.linkId) {
      entry.link?.signal(data)
      return
    }
    if (data.type !== 'offer') return // a stale answer or candidate of a link already replaced
    const crossedOffers =
      entry.initiator && entry.link && !entry.session && this.welcome.deviceId < from
    if (crossedOffers) return // ours wins: the peer will accept our offer
    this.connect(entry, false, linkId)
    entry.link?.signal(data)
  }

  /**
   * Offers a link to `entry`, or queues the offer while MAX_CONNECTING_OFFERS of this member's
   * offers are connecting; `now`: a request is waiting for this link, it goes at once.
   */
  private offer(entry: PeerEntry, now = false): void {
    if (!now && this.connectingOffers() >= MAX_CONNECTING_OFFERS) {
      this.waitingOffers.add(entry)
      return
    }
    this.waitingOffers.delete(entry)
    this.connect(entry, true, randomLinkId())
  }

  /** This member's offers whose link has not opened yet. */
  private connectingOffers(): number {
    let connecting = 0
    for (const entry of this.entries.values())
      if (entry.initiator && entry.link && !entry.session) connecting++
    return connecting
  }

  /** A connecting slot may be free: the waiting offers that are still wanted go, in order. */
  private offerWaiting(): void {
    for (const entry of this.waitingOffers) {
      if (this.connectingOffers() >= MAX_CONNECTING_OFFERS) return
      this.waitingOffers.delete(entry)
      const stillWanted =
        !this.closed &&
        this.signaling.current === 'joined' &&
        this.entries.get(entry.info.deviceId) === entry &&
        !entry.link &&
        this.wants(entry.info)
      if (stillWanted) this.connect(entry, true, randomLinkId())
    }
  }

  private connect(entry: PeerEntry, initiator: boolean, linkId: string): void {
    this.dropLink(entry, 'replaced')
    const peerId = entry.info.deviceId
    entry.linkId = linkId
    entry.initiator = initiator
    const link = openPeerLink({
      initiator,
      ...(this.options.webrtc ? { webrtc: this.options.webrtc } : {}),
      iceServers: this.welcome?.iceServers ?? [],
      onSignal: (data) => {
        if (entry.linkId !== linkId) return
        void this.signaling.send({ type: 'signal', to: peerId, linkId, data }).then((sent) => {
          if (!sent.ok)
            console.warn(`cohort: could not relay a signal to ${peerId}: ${sent.error.message}`)
        })
      },
      onOpen: (channel) => {
        if (entry.linkId !== linkId) return
        entry.retries = 0
        entry.session = new PeerSession(
          peerId,
          channel,
          (method) => this.handlers.get(method),
          {
            // The session calls this at a bounded rate, however fast bad frames come.
            onBadMessage: (error, count, periodMs) => {
              const seconds = Math.round(periodMs / 1000)
              console.warn(
                count === 1
                  ? `cohort: bad message from ${peerId}: ${error.message}`
                  : `cohort: ${count} bad messages from ${peerId} in the last ${seconds} s, the latest: ${error.message}`,
              )
              this.emit({ type: 'bad-message', from: peerId, error, count })
            },
            onEnd: (reason) => this.onSessionEnd(entry, linkId, reason),
          },
          this.options.heartbeat ?? DEFAULT_HEARTBEAT,
        )
        // A peer may offer a link this side's plan does not need (their plans crossed): it is
        // served, and retired like any other unwanted link.
        if (!this.wants(entry.info) && entry.retireTimer === undefined) this.scheduleRetire(entry)
        this.offerWaiting()
        this.emit({ type: 'peers' })
      },
      onData: (bytes) => {
        if (entry.linkId === linkId) entry.session?.deliver(bytes)
      },
      onClose: (reason) => {
        if (reason !== 'closed') {
          const side = initiator ? 'our offer' : 'their offer'
          console.warn(
            `cohort: the link to ${peerId} (${entry.info.role}, ${side}) ended: ${reason}`,
          )
        }
        if (entry.linkId !== linkId) return
        if (entry.session) entry.session.end('closed')
        else this.onSessionEnd(entry, linkId, reason === 'connect-timeout' ? 'silent' : 'closed')
      },
    })
    entry.link = link
    // Answering the peer's offer instead of our own may have freed a connecting slot.
    if (!initiator) this.offerWaiting()
    this.emit({ type: 'peers' })
  }

  private onSessionEnd(entry: PeerEntry, linkId: string, reason: SessionEndReason): void {
    if (entry.linkId !== linkId) return
    const link = entry.link
    entry.link = null
    entry.session = null
    entry.linkId = null
    link?.close()
    this.emit({ type: 'peer-gone', deviceId: entry.info.deviceId, reason })
    this.emit({ type: 'peers' })
    this.scheduleReconnect(entry)
    this.offerWaiting()
  }

  private scheduleReconnect(entry: PeerEntry): void {
    const self = this.welcome?.deviceId
    const stillHere = this.entries.get(entry.info.deviceId) === entry
    if (this.closed || !self || !stillHere || !this.wants(entry.info)) return
    clearTimeout(entry.retryTimer)
    const turn = self < entry.info.deviceId ? 1 : 2
    const delay = turn * Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** entry.retries)
    entry.retries++
    entry.retryTimer = setTimeout(() => {
      // Without the coordinator no signal can reach the peer; the next welcome offers instead.
      if (this.signaling.current !== 'joined') return
      if (!entry.link && this.entries.get(entry.info.deviceId) === entry) this.offer(entry)
    }, delay)
  }

  private scheduleRetire(entry: PeerEntry): void {
    entry.retireTimer = setTimeout(() => {
      entry.retireTimer = undefined
      if (this.closed || this.entries.get(entry.info.deviceId) !== entry) return
      if (this.wants(entry.info) || !entry.link) return
      if ((entry.session?.inFlight ?? 0) > 0) {
        this.scheduleRetire(entry)
        return
      }
      clearTimeout(entry.retryTimer)
      this.dropLink(entry, 'unplanned')
      this.emit({ type: 'peers' })
    }, RETIRE_AFTER_MS)
  }

  private dropLink(entry: PeerEntry, reason: SessionEndReason): void {
    const { link, session } = entry
    entry.linkId = null
    entry.link = null
    entry.session = null
    session?.end(reason)
    link?.close()
  }

  private forget(deviceId: DeviceId, reason: string): void {
    const entry = this.entries.get(deviceId)
    if (!entry) return
    this.entries.delete(deviceId)
    this.waitingOffers.delete(entry)
    clearTimeout(entry.retryTimer)
    clearTimeout(entry.retireTimer)
    const hadLink = entry.link !== null
    this.dropLink(entry, 'left')
    this.offerWaiting()
    if (hadLink) this.emit({ type: 'peer-gone', deviceId, reason })
    this.emit({ type: 'peers' })
  }

  private entry(info: PeerInfo): PeerEntry {
    const existing = this.entries.get(info.deviceId)
    if (existing) {
      existing.info = info
      return existing
    }
    const entry: PeerEntry = {
      info,
      linkId: null,
      link: null,
      initiator: false,
      session: null,
      retryTimer: undefined,
      retries: 0,
      retireTimer: undefined,
    }
    this.entries.set(info.deviceId, entry)
    return entry
  }

  private wants(info: PeerInfo): boolean {
    return this.options.wants?.(info) ?? true
  }

  private emit(event: MeshEvent): void {
    for (const listener of this.listeners) listener(event)
  }
}
