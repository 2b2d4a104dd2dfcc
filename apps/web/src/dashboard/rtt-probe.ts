import type { Mesh, PeerStatus } from '@cohort/mesh'

/** Long enough for a loaded phone on Wi-Fi; a probe that misses it is tried again later. */
const PROBE_DEADLINE_MS = 2_000
/** How often idle links are measured again. */
const REFRESH_MS = 5_000

/**
 * The mesh measures a link's round trip from the requests sent over it, so a device that has
 * served nothing has none, and an idle link's figure grows old. This probe sends a tiny echo
 * (every member serves `echo`) to each device as soon as its link opens, and to every device
 * every few seconds while no run is going, so the room view always shows a current round
 * trip; during a run its own requests keep the figure current and no probe competes with them.
 */
export class RttProbe {
  private readonly probing = new Set<string>()
  private readonly timer: ReturnType<typeof setInterval>
  private readonly payload = [
    { name: 'payload', dtype: 'float32' as const, dims: [1], data: new Float32Array(1) },
  ]

  constructor(
    private readonly mesh: Mesh,
    private readonly idle: () => boolean,
    private readonly measured: () => void,
  ) {
    this.timer = setInterval(() => {
      if (this.idle()) this.probe(() => true)
    }, REFRESH_MS)
  }

  /** A mesh listener: measures the open links that have no round trip yet. */
  readonly onMeshEvent = (): void => this.probe((peer) => peer.rttMs === null)

  /** Stops the refresh. */
  dispose(): void {
    clearInterval(this.timer)
  }

  private probe(wanted: (peer: PeerStatus) => boolean): void {
    for (const peer of this.mesh.peers()) {
      const id = peer.info.deviceId
      if (peer.link !== 'open' || this.probing.has(id) || !wanted(peer)) continue
      this.probing.add(id)
      void this.mesh
        .request(id, 'echo', this.payload, { deadlineMs: PROBE_DEADLINE_MS })
        .then((outcome) => {
          this.probing.delete(id)
          if (outcome.ok) this.measured()
        })
    }
  }
}
