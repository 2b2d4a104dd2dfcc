import type { IceServer, SignalData } from '@cohort/protocol'
import SimplePeer from 'simple-peer/simplepeer.min.js'
import { type ByteChannel, messageBytes } from './byte-channel.ts'

/** A WebRTC connection attempt that never opens fails silently; this bounds it. */
export const CONNECT_TIMEOUT_MS = 15_000

/**
 * A WebRTC implementation for runtimes without one built in (Node: `@roamhq/wrtc`); browsers
 * use their own.
 */
export interface WebRtcImplementation {
  readonly RTCPeerConnection: unknown
  readonly RTCSessionDescription: unknown
  readonly RTCIceCandidate: unknown
  /**
   * Resolves when another RTCPeerConnection may be made (absent: at once). libwebrtc in Node
   * (wrtc) re-gathers TCP candidates on every connection still gathering whenever a new one
   * starts: twenty made at once held 1,800 descriptors instead of 400, and a process of ten
   * devices ran out. Spaced out, each gathers once. An answer is urgent (the offerer's connect
   * timeout is already running); an offer can wait.
   */
  readonly admit?: (urgent: boolean) => Promise<void>
  /**
   * Whether an ICE candidate (its `candidate:` line) is sent to the peer or taken from it (absent:
   * all are). Node devices use UDP only: ICE over TCP adds a listening socket per network to
   * every connection and a connection per candidate pair, and a LAN never needs it.
   */
  readonly usesCandidate?: (candidate: string) => boolean
}

/** While the send queue drains, channels without `bufferedamountlow` events are polled this often. */
export const DRAIN_POLL_MS = 2

/** Options of one connection attempt. */
export interface PeerLinkOptions {
  readonly initiator: boolean
  /** Absent in browsers. */
  readonly webrtc?: WebRtcImplementation
  readonly iceServers: readonly IceServer[]
  /** Called with each offer, answer or candidate to relay to the other side. */
  readonly onSignal: (data: SignalData) => void
  /** Called once the data channel is open. */
  readonly onOpen: (channel: ByteChannel) => void
  /** Called with each message the peer sent. */
  readonly onData: (bytes: Uint8Array) => void
  /** Called once when the link closes for any reason, including a failed connect. */
  readonly onClose: (reason: string) => void
}

/** One WebRTC connection with one data channel. */
export interface PeerLink {
  /** Feeds signaling data relayed from the other side. */
  signal(data: SignalData): void
  /** Closes the connection; onClose fires once. */
  close(): void
}

interface SimplePeerInternals {
  _channel: RTCDataChannel | null
  _pc: RTCPeerConnection | null
  /** simple-peer's handler of every message on its channel (it pushes them into its stream). */
  _onChannelMessage(event: MessageEvent<unknown>): void
}

/**
 * Messages a link holds from before it opened on this side (the peer's side may open first and
 * send at once); past this many, the peer is not behaving and the link ends.
 */
export const MAX_MESSAGES_BEFORE_OPEN = 1_024

/**
 * Opens a WebRTC data channel to another device through simple-peer. Where the implementation
 * paces new connections (`admit`), the connection is made when admitted; signals that arrive
 * before then wait for it, and the connect timeout starts once it exists.
 */
export function openPeerLink(options: PeerLinkOptions): PeerLink {
  let peer: SimplePeer.Instance | null = null
  const early: SignalData[] = []
  let closed = false
  let connectTimer: ReturnType<typeof setTimeout> | undefined
  const finish = (reason: string) => {
    if (closed) return
    closed = true
    clearTimeout(connectTimer)
    if (peer) {
      peer.removeAllListeners()
      // simple-peer may emit 'error' while being destroyed; keep one listener so it is not unhandled.
      peer.on('error', () => {})
      peer.destroy()
    }
    options.onClose(reason)
  }
  const start = () => {
    if (closed) return
    try {
      peer = createPeer(options, finish)
    } catch (error) {
      // RTCPeerConnection itself can throw (out of descriptors, say): the link fails, nothing else.
      finish(`error: ${error instanceof Error ? error.message : String(error)}`)
      return
    }
    connectTimer = setTimeout(() => finish('connect-timeout'), CONNECT_TIMEOUT_MS)
    peer.on('connect', () => clearTimeout(connectTimer))
    for (const data of early.splice(0)) feed(peer, data)
  }
  const admit = options.webrtc?.admit
  if (admit)
    admit(!options.initiator).then(start, (error: unknown) => finish(`error: ${String(error)}`))
  else start()

  return {
    signal(data) {
      if (closed || !usable(options, data)) return
      if (peer) feed(peer, data)
      else early.push(data)
    },
    close() {
      finish('closed')
    },
  }
}

/** A simple-peer connection wired to the link's callbacks; `finish` ends the link. */
function createPeer(
  options: PeerLinkOptions,
  finish: (reason: string) => void,
): SimplePeer.Instance {
  const peer = new SimplePeer({
    initiator: options.initiator,
    trickle: true,
    config: { iceServers: options.iceServers.map(toRtcIceServer) },
    channelConfig: { ordered: true },
    ...(options.webrtc ? { wrtc: options.webrtc as SimplePeer.Options['wrtc'] } : {}),
  })
  const internals = peer as unknown as SimplePeerInternals
  // Every message is taken before simple-peer's stream layer sees it (its Readable costs about
  // 40% of the channel's throughput), from the first one: the peer's side can open and send a
  // moment before this side's 'connect', and those messages are held until the link opens here
  // (they used to go into a stream nobody reads: a request lost, its caller timed out).
  let open = false
  const early: Uint8Array[] = []
  internals._onChannelMessage = (event) => {
    if (peer.destroyed) return
    const bytes = messageBytes(event.data)
    if (open) options.onData(bytes)
    else if (early.push(bytes) > MAX_MESSAGES_BEFORE_OPEN) finish('too many messages before open')
  }
  peer.on('signal', (data: unknown) => {
    if (isRelayable(data) && usable(options, data)) options.onSignal(data)
  })
  peer.on('connect', () => {
    const channel = internals._channel
    if (!channel) {
      finish('no-channel')
      return
    }
    // simple-peer (when not the initiator) adopts any data channel the peer opens later and
    // buffers its messages in a stream nobody reads: a peer could fill this page's memory
    // through a second channel. Cohort uses one channel per link, so refuse any other.
    if (internals._pc) {
      internals._pc.ondatachannel = (event: RTCDataChannelEvent) => event.channel.close()
    }
    options.onOpen(adaptChannel(channel, internals._pc))
    open = true
    for (const bytes of early.splice(0)) options.onData(bytes)
  })
  peer.on('close', () => finish('closed'))
  peer.on('error', (error: Error) => finish(`error: ${error.message}`))
  return peer
}

/** False for a candidate the implementation does not use (see `usesCandidate`). */
function usable(options: PeerLinkOptions, data: SignalData): boolean {
  const uses = options.webrtc?.usesCandidate
  return !uses || data.type !== 'candidate' || uses(data.candidate.candidate)
}

// Our validated shape is what RTCPeerConnection takes; simple-peer's types ask for more.
function feed(peer: SimplePeer.Instance, data: SignalData): void {
  peer.signal(data as unknown as Parameters<typeof peer.signal>[0])
}

function toRtcIceServer(server: IceServer): RTCIceServer {
  const { urls, username, credential } = server
  return {
    urls: Array.isArray(urls) ? [...urls] : urls,
    ...(username === undefined ? {} : { username }),
    ...(credential === undefined ? {} : { credential }),
  }
}

// Renegotiation and transceiver requests never happen on a data-only link: relay the rest.
function isRelayable(data: unknown): data is SignalData {
  const type = (data as { type?: unknown } | null)?.type
  return type === 'offer' || type === 'answer' || type === 'candidate'
}

function adaptChannel(channel: RTCDataChannel, pc: RTCPeerConnection | null): ByteChannel {
  const maxMessageSize = pc?.sctp?.maxMessageSize || 64 * 1024
  return {
    maxMessageSize: Number.isFinite(maxMessageSize) ? maxMessageSize : 256 * 1024,
    bufferedAmount: () => channel.bufferedAmount,
    send(message) {
      channel.send(message as Uint8Array<ArrayBuffer>)
    },
    onceDrained(threshold, listener) {
      if (channel.bufferedAmount <= threshold) {
        listener()
        return () => {}
      }
      // Node's wrtc never fires bufferedamountlow (and has no threshold property): poll it.
      if (channel.bufferedAmountLowThreshold === undefined)
        return pollDrained(channel, threshold, listener)
      channel.bufferedAmountLowThreshold = threshold
      const onLow = () => {
        channel.removeEventListener('bufferedamountlow', onLow)
        channel.removeEventListener('close', onLow)
        listener()
      }
      channel.addEventListener('bufferedamountlow', onLow)
      channel.addEventListener('close', onLow)
      return () => {
        channel.removeEventListener('bufferedamountlow', onLow)
        channel.removeEventListener('close', onLow)
      }
    },
  }
}

function pollDrained(channel: RTCDataChannel, threshold: number, listener: () => void): () => void {
  const timer = setInterval(() => {
    if (channel.bufferedAmount > threshold && channel.readyState === 'open') return
    clearInterval(timer)
    listener()
  }, DRAIN_POLL_MS)
  return () => clearInterval(timer)
}
