import type { Mesh } from '@cohort/mesh'
import {
  type DeviceProfile,
  EARLY_EXIT_HOP_METHOD,
  type Manifest,
  RUN_MODEL_METHOD,
} from '@cohort/protocol'
import { earlyExitServer } from './early-exit-server.ts'
import type { ModelRunner } from './model-runner.ts'
import { modelServer } from './model-server.ts'

/** What a device shows of its serving. */
export interface ServingState {
  /** Requests this device answered. */
  served: number
  /** Requests it failed (bad input, a crashed worker that could not recover, …). */
  failed: number
  /** Whether the coordinator has this device's profile. */
  profileSent: boolean
}

/** A device whose models are loaded and profiled. */
export interface ReadyDevice {
  readonly mesh: Mesh
  readonly runner: ModelRunner
  readonly manifest: Manifest
  /** The models it loaded (it serves only these). */
  readonly loaded: ReadonlySet<string>
  /** Its validated profile, or null when it has none the planner can use. */
  readonly profile: DeviceProfile | null
  /** Called whenever the serving state changes. */
  readonly changed?: () => void
}

/**
 * Serves a ready device to its room, the same for a browser tab and a Node process: the task's
 * models (`run-model`), early-exit hops (`early-exit-hop`, as whichever tier a hop addresses),
 * and its profile to the coordinator, again after every (re)join, since a restarted coordinator
 * knows nothing of it.
 */
export function serveDevice(device: ReadyDevice): ServingState {
  const { mesh, runner, manifest, loaded, profile } = device
  const changed = device.changed ?? (() => {})
  const state: ServingState = { served: 0, failed: 0, profileSent: false }
  const sendProfile = () => {
    if (!profile) return
    void mesh.tellCoordinator({ type: 'profile', profile }).then((reply) => {
      state.profileSent = reply.ok
      if (!reply.ok)
        console.warn(`cohort: the coordinator refused the profile: ${reply.error.message}`)
      changed()
    })
  }
  mesh.subscribe((event) => {
    if (event.type === 'welcome') sendProfile()
  })
  const serve = modelServer(manifest, runner, () => loaded)
  const counted =
    (handler: typeof serve): typeof serve =>
    async (request) => {
      try {
        const reply = await handler(request)
        state.served++
        return reply
      } catch (error) {
        // A request cancelled because another member answered first is no failure.
        if (!request.signal.aborted) state.failed++
        throw error
      } finally {
        changed()
      }
    }
  mesh.handle(RUN_MODEL_METHOD, counted(serve))
  mesh.handle(
    EARLY_EXIT_HOP_METHOD,
    counted(
      earlyExitServer({
        manifest,
        runner,
        request: (...args) => mesh.request(...args),
        rttMs: (deviceId) =>
          mesh.peers().find((peer) => peer.info.deviceId === deviceId)?.rttMs ?? null,
        self: () => mesh.self?.deviceId ?? null,
        available: () => loaded,
      }),
    ),
  )
  if (mesh.self) sendProfile()
  return state
}
