import { ECHO_METHOD, LARGE_MESSAGE_BYTES, type Mesh, type PeerStatus } from '@cohort/mesh'
import type { Tensor } from '@cohort/protocol'

/** Long enough for a loaded phone on Wi-Fi; a probe that misses it is tried again later. */
const PROBE_DEADLINE_MS = 2_000
/** How often idle links are measured again. */
const REFRESH_MS = 5_000
/** Every this many refreshes, an idle link's bandwidth is measured again too. */
const BANDWIDTH_EVERY = 6

const probeTensor = (bytes: number): Tensor[] => [
  { name: 'payload', dtype: 'float32', dims: [bytes / 4], data: new Float32Array(bytes / 4) },
]
/** A tiny echo measures the round trip. */
const SMALL_PROBE = probeTensor(4)
/** An echo whose bytes both ways make a large message measures the bandwidth. */
const LARGE_PROBE = probeTensor(LARGE_MESSAGE_BYTES / 2)

/**
 * The mesh measures a link's round trip from the requests sent over it, so a device that has
 * served nothing has none, and an idle link's figure grows old. This probe sends a tiny echo
 * (every member serves `echo`) to each device as soon as its link opens, and to every device
 * every few seconds while no run is going, so the room view always shows a current round
 * trip; during a run its own requests keep the figure current and no probe competes with them.
 * A link without a bandwidth, and while idle every link now and then, also gets a large echo
 * right after the tiny one: the pair gives the link's bandwidth (the mesh fits round trip +
 * bytes / bandwidth). The host reports both to the coordinator as soon as they are known, so the
 * room is planned with its links measured before the first run.
 */
export class RttProbe {
  private readonly probing = new Set<string>()
  private readonly timer: ReturnType<typeof setInterval>
  private refreshes = 0

  constructor(
    private readonly mesh: Mesh,
    private readonly idle: () => boolean,
    private readonly measured: () => void,
  ) {
    this.timer = setInterval(() => {
      if (!this.idle()) return
      this.refreshes++
      // The minimum of recent echoes counts: refreshes while idle find the link's clean cost
      // even when it was first measured while the pages were loading their models.
      this.probe(
        () => true,
        (peer) => peer.bytesPerMs === null || this.refreshes % BANDWIDTH_EVERY === 0,
      )
    }, REFRESH_MS)
  }

  /** A mesh listener: measures the open links that have no round trip yet. */
  readonly onMeshEvent = (): void =>
    this.probe(
      (peer) => peer.rttMs === null,
      (peer) => peer.bytesPerMs === null,
    )

  /** Stops the refresh. */
  dispose(): void {
    clearInterval(this.timer)
  }

  private probe(
    wanted: (peer: PeerStatus) => boolean,
    bandwidthDue: (peer: PeerStatus) => boolean,
  ): void {
    for (const peer of this.mesh.peers()) {
      const id = peer.info.deviceId
      if (peer.link !== 'open' || this.probing.has(id) || !wanted(peer)) continue
      this.probing.add(id)
      void this.measure(id, bandwidthDue(peer))
    }
  }

  /** The tiny echo, then (when `bandwidth`) the large one: one after the other, never together. */
  private async measure(id: PeerStatus['info']['deviceId'], bandwidth: boolean): Promise<void> {
    const options = { deadlineMs: PROBE_DEADLINE_MS }
    const small = await this.mesh.request(id, ECHO_METHOD, SMALL_PROBE, options)
    if (small.ok && bandwidth) await this.mesh.request(id, ECHO_METHOD, LARGE_PROBE, options)
    this.probing.delete(id)
    if (small.ok) this.measured()
  }
}
