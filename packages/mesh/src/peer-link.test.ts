import { describe, expect, it, vi } from 'vitest'
import { openPeerLink } from './peer-link.ts'

// simple-peer replaced by the few internals peer-link touches: what matters here is what happens
// to the messages and channels that arrive once the link is open.
const fake = vi.hoisted(() => {
  type Listener = (...args: unknown[]) => void
  class FakePeer {
    readonly listeners = new Map<string, Listener[]>()
    destroyed = false
    /** As simple-peer wires its channel: every message goes to its _onChannelMessage. */
    readonly _channel = {
      bufferedAmount: 0,
      onmessage: (event: { data: unknown }) => this._onChannelMessage(event),
    }
    /** simple-peer's own: pushes into a stream nobody reads here. */
    _onChannelMessage(_event: { data: unknown }) {
      streamed++
    }
    /** simple-peer's own handler adopts a channel the peer opens (when not the initiator). */
    readonly _pc: { sctp: { maxMessageSize: number }; ondatachannel: Listener } = {
      sctp: { maxMessageSize: 256 * 1024 },
      ondatachannel: () => {
        adopted++
      },
    }
    constructor() {
      peers.push(this)
    }
    on(event: string, listener: Listener) {
      this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener])
    }
    emit(event: string, ...args: unknown[]) {
      for (const listener of this.listeners.get(event) ?? []) listener(...args)
    }
    removeAllListeners() {
      this.listeners.clear()
    }
    readonly signals: unknown[] = []
    destroy() {
      this.destroyed = true
    }
    signal(data: unknown) {
      this.signals.push(data)
    }
  }
  const peers: FakePeer[] = []
  let adopted = 0
  let streamed = 0
  return { FakePeer, peers, adopted: () => adopted, streamed: () => streamed }
})

vi.mock('simple-peer/simplepeer.min.js', () => ({ default: fake.FakePeer }))

describe('openPeerLink', () => {
  it('hands every message to the session, text as an empty frame, and refuses later channels', () => {
    const data: Uint8Array[] = []
    const opened: unknown[] = []
    const link = openPeerLink({
      initiator: false,
      iceServers: [],
      onSignal: () => {},
      onOpen: (channel) => void opened.push(channel),
      onData: (bytes) => void data.push(bytes),
      onClose: () => {},
    })
    const peer = fake.peers.at(-1)
    if (!peer) throw new Error('no peer')
    peer.emit('connect')
    expect(opened).toHaveLength(1)

    peer._channel.onmessage({ data: new Uint8Array([1, 2]).buffer })
    // Text is not Cohort's, but it arrived on the link: the session counts it (as a bad frame).
    peer._channel.onmessage({ data: 'text' })
    expect(data).toEqual([new Uint8Array([1, 2]), new Uint8Array(0)])

    // A second data channel from the peer is closed, not adopted (its messages would pile up
    // in a stream nobody reads).
    const extra = { close: vi.fn() }
    peer._pc.ondatachannel({ channel: extra })
    expect(extra.close).toHaveBeenCalledTimes(1)
    expect(fake.adopted()).toBe(0)
    link.close()
  })

  it('makes the connection when the implementation admits it, with the signals that came first', async () => {
    let admit: () => void = () => {}
    const webrtc = {
      RTCPeerConnection: null,
      RTCSessionDescription: null,
      RTCIceCandidate: null,
      admit: () =>
        new Promise<void>((resolve) => {
          admit = resolve
        }),
    }
    const before = fake.peers.length
    const options = {
      initiator: false,
      webrtc,
      iceServers: [],
      onSignal: () => {},
      onOpen: () => {},
      onData: () => {},
    }
    const link = openPeerLink({ ...options, onClose: () => {} })
    const offer = { type: 'offer' as const, sdp: 'v=0' }
    const candidate = { type: 'candidate' as const, candidate: { candidate: 'candidate:1' } }
    link.signal(offer)
    link.signal(candidate)
    expect(fake.peers.length).toBe(before)
    admit()
    await Promise.resolve()
    const peer = fake.peers.at(-1)
    expect(fake.peers.length).toBe(before + 1)
    expect(peer?.signals).toEqual([offer, candidate])
    link.close()
    expect(peer?.destroyed).toBe(true)

    // Closed while waiting: it ends once, and no connection is ever made.
    const reasons: string[] = []
    const waiting = openPeerLink({ ...options, onClose: (reason) => void reasons.push(reason) })
    waiting.close()
    admit()
    await Promise.resolve()
    expect(fake.peers.length).toBe(before + 1)
    expect(reasons).toEqual(['closed'])
  })

  it('sends and takes only the candidates the implementation uses', async () => {
    const webrtc = {
      RTCPeerConnection: null,
      RTCSessionDescription: null,
      RTCIceCandidate: null,
      usesCandidate: (candidate: string) => candidate.includes(' udp '),
    }
    const sent: unknown[] = []
    const link = openPeerLink({
      initiator: true,
      webrtc,
      iceServers: [],
      onSignal: (data) => void sent.push(data),
      onOpen: () => {},
      onData: () => {},
      onClose: () => {},
    })
    const peer = fake.peers.at(-1)
    if (!peer) throw new Error('no peer')
    const udp = {
      type: 'candidate',
      candidate: { candidate: 'candidate:1 1 udp 2122 127.0.0.1 5000 typ host' },
    }
    const tcp = {
      type: 'candidate',
      candidate: { candidate: 'candidate:2 1 tcp 1518 127.0.0.1 5001 typ host tcptype passive' },
    }
    const offer = { type: 'offer', sdp: 'v=0' }
    for (const data of [offer, udp, tcp]) peer.emit('signal', data)
    expect(sent).toEqual([offer, udp])
    for (const data of [udp, tcp] as const) link.signal(data as Parameters<typeof link.signal>[0])
    expect(peer.signals).toEqual([udp])
    link.close()
  })

  it("holds the messages that arrive before this side's connect, and delivers them first", () => {
    const data: number[] = []
    const events: string[] = []
    const link = openPeerLink({
      initiator: false,
      iceServers: [],
      onSignal: () => {},
      onOpen: () => void events.push('open'),
      onData: (bytes) => {
        data.push(bytes[0] ?? -1)
        events.push('data')
      },
      onClose: () => {},
    })
    const peer = fake.peers.at(-1)
    if (!peer) throw new Error('no peer')
    // The other side opened first and sent a request at once.
    peer._channel.onmessage({ data: new Uint8Array([1]).buffer })
    peer._channel.onmessage({ data: new Uint8Array([2]).buffer })
    expect(data).toEqual([])
    peer.emit('connect')
    peer._channel.onmessage({ data: new Uint8Array([3]).buffer })
    expect(data).toEqual([1, 2, 3])
    expect(events).toEqual(['open', 'data', 'data', 'data'])
    // None of them went into simple-peer's stream.
    expect(fake.streamed()).toBe(0)
    link.close()
  })
})
