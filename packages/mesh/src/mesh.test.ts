import type { DeviceId, PeerInfo, RoomCode, SignalData } from '@cohort/protocol'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { MAX_CONNECTING_OFFERS, Mesh, type MeshEvent, RETIRE_AFTER_MS } from './mesh.ts'
import type { PeerLinkOptions } from './peer-link.ts'
import type { SignalingHandlers, SignalingState, Welcome } from './signaling-client.ts'
import { memoryChannelPair } from './testing/memory-channel.ts'

// The mesh's reconnection logic, with the coordinator connection and WebRTC replaced by
// recorders: what matters here is which links the mesh opens, and when it sends their signals.
const fakes = vi.hoisted(() => ({
  links: [] as { options: PeerLinkOptions; closed: boolean }[],
  signaling: null as null | {
    state: SignalingState
    handlers: SignalingHandlers
    /** Signals the mesh sent, with the state the connection was in at the time. */
    sent: { linkId: string; data: SignalData; state: SignalingState }[]
  },
}))

vi.mock('./peer-link.ts', () => ({
  openPeerLink(options: PeerLinkOptions) {
    const link = { options, closed: false }
    fakes.links.push(link)
    // An initiator's offer comes out of simple-peer asynchronously.
    if (options.initiator) queueMicrotask(() => options.onSignal({ type: 'offer', sdp: 'v=0' }))
    return {
      signal() {},
      close() {
        if (link.closed) return
        link.closed = true
        options.onClose('closed')
      },
    }
  },
}))

vi.mock('./signaling-client.ts', () => ({
  SignalingClient: class {
    constructor(_options: unknown, handlers: SignalingHandlers) {
      fakes.signaling = { state: 'connecting', handlers, sent: [] }
    }
    get current() {
      return fakes.signaling?.state
    }
    async send(message: { type: string; linkId?: string; data?: SignalData }) {
      const signaling = fakes.signaling
      if (signaling && message.type === 'signal' && message.linkId && message.data)
        signaling.sent.push({ linkId: message.linkId, data: message.data, state: signaling.state })
      return signaling?.state === 'joined'
        ? { ok: true, value: { type: 'ack' } }
        : { ok: false, error: { code: 'not-connected', message: 'not joined' } }
    }
    close() {}
  },
}))

const SELF = 'aaaa00001' as DeviceId
const HOST: PeerInfo = {
  deviceId: 'zzzz00001' as DeviceId,
  role: 'host',
  name: 'Host Name',
  label: 'host',
  joinedAt: 0,
}

function signaling() {
  if (!fakes.signaling) throw new Error('no signaling client')
  return fakes.signaling
}

function setState(state: SignalingState) {
  signaling().state = state
  signaling().handlers.onState(state)
}

function welcome(peers: PeerInfo[]) {
  setState('joined')
  signaling().handlers.onWelcome({
    type: 'welcome',
    deviceId: SELF,
    peers,
    iceServers: [],
  } as unknown as Welcome)
}

const openLink = (index: number) => {
  const link = fakes.links[index]
  if (!link) throw new Error(`no link ${index}`)
  const [ours, theirs] = memoryChannelPair()
  theirs.onMessage(() => {}) // the peer's side: heartbeats land here unread
  link.options.onOpen(ours)
}

describe('Mesh reconnection', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    fakes.links.length = 0
    fakes.signaling = null
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('re-offers a link that broke while the coordinator was unreachable as soon as it rejoins', async () => {
    const mesh = new Mesh({ room: 'ROOM' as RoomCode, role: 'device', label: 'phone' })
    welcome([HOST])
    await vi.advanceTimersByTimeAsync(0)
    expect(fakes.links).toHaveLength(1)
    openLink(0)
    expect(mesh.peers()[0]?.link).toBe('open')

    // A network blip: the socket drops, the host forgets this device and closes the link.
    setState('reconnecting')
    fakes.links[0]?.options.onClose('closed')
    expect(mesh.peers()[0]?.link).toBe('closed')
    // The retry comes due while the coordinator is still unreachable: nothing is offered,
    // since its signals could not reach the host.
    await vi.advanceTimersByTimeAsync(2_000)
    expect(fakes.links).toHaveLength(1)

    // Back: the welcome offers a new link, and its offer goes out through the coordinator.
    welcome([HOST])
    await vi.advanceTimersByTimeAsync(0)
    expect(fakes.links).toHaveLength(2)
    const offers = signaling().sent.filter((sent) => sent.data.type === 'offer')
    expect(offers.map((offer) => offer.state)).toEqual(['joined', 'joined'])
    mesh.leave()
  })

  it('replaces a link still connecting at a rejoin, whose signals were lost, and keeps an open one', async () => {
    const other: PeerInfo = {
      deviceId: 'bbbb00001' as DeviceId,
      role: 'device',
      name: 'Tablet Name',
      label: 'tablet',
      joinedAt: 0,
    }
    const mesh = new Mesh({ room: 'ROOM' as RoomCode, role: 'device', label: 'phone' })
    welcome([HOST, other])
    expect(fakes.links).toHaveLength(2)
    openLink(1) // the link to the tablet opens; the one to the host is still connecting
    setState('reconnecting')
    welcome([HOST, other])
    await vi.advanceTimersByTimeAsync(0)
    expect(fakes.links.map((link) => link.closed)).toEqual([true, false, false])
    expect(fakes.links[2]?.options.initiator).toBe(true)
    expect(mesh.peers().map((peer) => peer.link)).toEqual(['connecting', 'open'])
    mesh.leave()
  })
})

describe('Mesh links that follow what it wants', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    fakes.links.length = 0
    fakes.signaling = null
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  const tablet: PeerInfo = {
    deviceId: 'bbbb00001' as DeviceId,
    role: 'device',
    name: 'Tablet Name',
    label: 'tablet',
    joinedAt: 0,
  }

  /** A device's mesh that wants the peers in `wanted` (reassigned by the tests). */
  let wanted = new Set<string>()
  const wantingMesh = () =>
    new Mesh({
      room: 'ROOM' as RoomCode,
      role: 'device',
      label: 'phone',
      // The far side never answers here: a long deadAfterMs keeps silence out of the way.
      heartbeat: { intervalMs: 400, deadAfterMs: 600_000 },
      wants: (peer) => wanted.has(peer.deviceId),
    })

  it('offers a newly wanted link at relink, and retires one no longer wanted after the grace period, once nothing is in flight on it', async () => {
    wanted = new Set([HOST.deviceId])
    const mesh = wantingMesh()
    welcome([HOST, tablet])
    await vi.advanceTimersByTimeAsync(0)
    expect(fakes.links).toHaveLength(1) // only the host is wanted
    openLink(0)

    // A plan adds the tablet: its link is offered at once.
    wanted = new Set([HOST.deviceId, tablet.deviceId])
    mesh.relink()
    expect(fakes.links).toHaveLength(2)
    openLink(1)
    expect(mesh.peers().map((peer) => peer.link)).toEqual(['open', 'open'])

    // The next plan drops it. A request on it is in flight: the link outlives the grace period.
    wanted = new Set([HOST.deviceId])
    const request = mesh.request(tablet.deviceId, 'echo', [], { deadlineMs: 60_000 })
    mesh.relink()
    await vi.advanceTimersByTimeAsync(RETIRE_AFTER_MS + 1)
    expect(fakes.links[1]?.closed).toBe(false)
    // Once it has ended (here by its deadline), the link is retired at the next check.
    await vi.advanceTimersByTimeAsync(60_000)
    expect((await request).ok).toBe(false)
    await vi.advanceTimersByTimeAsync(RETIRE_AFTER_MS)
    expect(fakes.links[1]?.closed).toBe(true)
    expect(mesh.peers().map((peer) => peer.link)).toEqual(['open', 'closed'])
    // Retired by choice: no reconnection attempt follows.
    await vi.advanceTimersByTimeAsync(30_000)
    expect(fakes.links).toHaveLength(2)
    mesh.leave()
  })

  it('has at most MAX_CONNECTING_OFFERS offers connecting; the others go as links open or fail, and a request does not wait its turn', async () => {
    const tier = Array.from({ length: MAX_CONNECTING_OFFERS + 3 }, (_, i) => ({
      ...tablet,
      deviceId: `cccc0000${i}` as DeviceId,
    }))
    wanted = new Set(tier.map((peer) => peer.deviceId))
    const mesh = wantingMesh()
    welcome(tier)
    await vi.advanceTimersByTimeAsync(0)
    expect(fakes.links).toHaveLength(MAX_CONNECTING_OFFERS)
    // One opens: the next waiting offer goes. One fails: the next goes too.
    openLink(0)
    expect(fakes.links).toHaveLength(MAX_CONNECTING_OFFERS + 1)
    fakes.links[1]?.options.onClose('connect-timeout')
    expect(fakes.links).toHaveLength(MAX_CONNECTING_OFFERS + 2)
    // A request to the last waiting peer offers its link at once, past the limit.
    const last = tier.at(-1) as PeerInfo
    void mesh.request(last.deviceId, 'echo', [], { deadlineMs: 60_000 })
    expect(fakes.links).toHaveLength(MAX_CONNECTING_OFFERS + 3)
    expect(fakes.links.at(-1)?.options.initiator).toBe(true)
    // Nothing else waits: no more offers than peers.
    for (let i = 2; i < fakes.links.length; i++) openLink(i)
    expect(fakes.links).toHaveLength(MAX_CONNECTING_OFFERS + 3)
    mesh.leave()
  })

  it('tells when a link to one of some peers opens, and stops waiting when asked to', async () => {
    wanted = new Set([HOST.deviceId, tablet.deviceId])
    const mesh = wantingMesh()
    welcome([HOST, tablet])
    await vi.advanceTimersByTimeAsync(0)
    openLink(0)
    const stop = new AbortController()
    // The host's link is open already: only the tablet's opening counts.
    let opened: boolean | null = null
    void mesh.whenAnyOpens([HOST.deviceId, tablet.deviceId], stop.signal).then((v) => {
      opened = v
    })
    await vi.advanceTimersByTimeAsync(10)
    expect(opened).toBeNull()
    openLink(1)
    await vi.advanceTimersByTimeAsync(0)
    expect(opened).toBe(true)
    // Every one open: nothing to wait for. Aborted: false.
    expect(await mesh.whenAnyOpens([HOST.deviceId], stop.signal)).toBe(false)
    const gone = new AbortController()
    const waiting = mesh.whenAnyOpens(['eeee00001' as DeviceId], gone.signal)
    gone.abort()
    expect(await waiting).toBe(false)
    mesh.leave()
  })

  it('keeps a link that is wanted again before its grace period ends', async () => {
    wanted = new Set([HOST.deviceId, tablet.deviceId])
    const mesh = wantingMesh()
    welcome([HOST, tablet])
    await vi.advanceTimersByTimeAsync(0)
    openLink(0)
    openLink(1)
    wanted = new Set([HOST.deviceId])
    mesh.relink()
    await vi.advanceTimersByTimeAsync(RETIRE_AFTER_MS / 2)
    wanted = new Set([HOST.deviceId, tablet.deviceId])
    mesh.relink()
    await vi.advanceTimersByTimeAsync(RETIRE_AFTER_MS * 2)
    expect(fakes.links.map((link) => link.closed)).toEqual([false, false])
    mesh.leave()
  })
})

describe('Mesh reconnection by the larger id', () => {
  // A peer whose id sorts before this device's: it is the one to offer again first.
  const SMALLER: PeerInfo = {
    deviceId: '0000host1' as DeviceId,
    role: 'host',
    name: 'Host Name',
    label: 'host',
    joinedAt: 0,
  }

  beforeEach(() => {
    vi.useFakeTimers()
    fakes.links.length = 0
    fakes.signaling = null
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('offers itself when the peer with the smaller id sent no offer (it forgot the link)', async () => {
    const mesh = new Mesh({ room: 'ROOM' as RoomCode, role: 'device', label: 'phone' })
    welcome([SMALLER])
    await vi.advanceTimersByTimeAsync(0)
    openLink(0)
    // The peer saw this device replaced by its own new connection, forgot it, and closed the
    // link after this device's welcome; it now waits for an offer.
    fakes.links[0]?.options.onClose('closed')
    await vi.advanceTimersByTimeAsync(1_000)
    expect(fakes.links).toHaveLength(1) // the smaller id's turn first
    await vi.advanceTimersByTimeAsync(1_000)
    expect(fakes.links).toHaveLength(2)
    expect(fakes.links[1]?.options.initiator).toBe(true)
    mesh.leave()
  })

  it('answers the smaller id’s offer and does not offer over it', async () => {
    const mesh = new Mesh({ room: 'ROOM' as RoomCode, role: 'device', label: 'phone' })
    welcome([SMALLER])
    await vi.advanceTimersByTimeAsync(0)
    openLink(0)
    fakes.links[0]?.options.onClose('closed')
    await vi.advanceTimersByTimeAsync(1_000)
    signaling().handlers.onPush({
      type: 'signal',
      from: SMALLER.deviceId,
      linkId: 'theirs',
      data: { type: 'offer', sdp: 'v=0' },
    })
    await vi.advanceTimersByTimeAsync(5_000)
    expect(fakes.links).toHaveLength(2)
    expect(fakes.links[1]?.options.initiator).toBe(false)
    mesh.leave()
  })
})

describe('Mesh bad messages', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    fakes.links.length = 0
    fakes.signaling = null
  })
  afterEach(() => {
    vi.restoreAllMocks()
    vi.useRealTimers()
  })

  it('logs a garbage flood in a few lines and cuts the flooder off as misbehaving', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    // The peer's heartbeats land nowhere here: a long deadAfterMs keeps silence out of the way.
    const mesh = new Mesh({
      room: 'ROOM' as RoomCode,
      role: 'device',
      label: 'phone',
      heartbeat: { intervalMs: 400, deadAfterMs: 600_000 },
    })
    const events: MeshEvent[] = []
    mesh.subscribe((event) => void events.push(event))
    welcome([HOST])
    await vi.advanceTimersByTimeAsync(0)
    openLink(0)
    const deliver = (count: number) => {
      for (let frame = 0; frame < count; frame++)
        fakes.links[0]?.options.onData(new Uint8Array([1, 2, 3]))
    }
    const badMessages = () =>
      events.flatMap((event) => (event.type === 'bad-message' ? [event.count] : []))

    // 600 bad frames (under the cut-off): one line at once, one summary when the interval is up.
    deliver(600)
    expect(warn).toHaveBeenCalledTimes(1)
    expect(warn.mock.calls[0]?.[0]).toMatch(/bad message from zzzz00001: chunk of 3 bytes/)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(warn).toHaveBeenCalledTimes(2)
    expect(warn.mock.calls[1]?.[0]).toMatch(/599 bad messages from zzzz00001 in the last 10 s/)
    expect(badMessages()).toEqual([1, 599])
    expect(mesh.peers()[0]?.link).toBe('open')

    // A flood past 1,000 a second ends the link with a typed reason, in one more line.
    deliver(5_000)
    expect(warn).toHaveBeenCalledTimes(3)
    expect(badMessages()).toEqual([1, 599, 1_001])
    expect(events).toContainEqual({
      type: 'peer-gone',
      deviceId: HOST.deviceId,
      reason: 'misbehaving',
    })
    expect(mesh.peers()[0]?.link).toBe('closed')
    mesh.leave()
  })
})
