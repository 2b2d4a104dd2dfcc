import { describe, expect, it, vi } from 'vitest'
import { openPeerLink } from './peer-link.ts'

// simple-peer replaced by the few internals peer-link touches: what matters here is what happens
// to the messages and channels that arrive once the link is open.
const fake = vi.hoisted(() => {
  type Listener = (...args: unknown[]) => void
  class FakePeer {
    readonly listeners = new Map<string, Listener[]>()
    readonly _channel = {
      bufferedAmount: 0,
      onmessage: null as null | ((event: { data: unknown }) => void),
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
    destroy() {}
    signal() {}
  }
  const peers: FakePeer[] = []
  let adopted = 0
  return { FakePeer, peers, adopted: () => adopted }
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

    peer._channel.onmessage?.({ data: new Uint8Array([1, 2]).buffer })
    // Text is not Cohort's, but it arrived on the link: the session counts it (as a bad frame).
    peer._channel.onmessage?.({ data: 'text' })
    expect(data).toEqual([new Uint8Array([1, 2]), new Uint8Array(0)])

    // A second data channel from the peer is closed, not adopted (its messages would pile up
    // in a stream nobody reads).
    const extra = { close: vi.fn() }
    peer._pc.ondatachannel({ channel: extra })
    expect(extra.close).toHaveBeenCalledTimes(1)
    expect(fake.adopted()).toBe(0)
    link.close()
  })
})
