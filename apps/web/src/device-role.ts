import { earlyExitServer, modelServer } from '@cohort/cohort'
import type { Mesh } from '@cohort/mesh'
import { type DeviceProfile, EARLY_EXIT_HOP_METHOD, RUN_MODEL_METHOD } from '@cohort/protocol'
import { plannerProfile } from '@cohort/runtime/client'
import type { RuntimePageHandle } from './device-runtime.ts'

/** What the device page shows of its serving. */
export interface ServingState {
  /** Requests this device answered. */
  served: number
  /** Requests it failed (bad input, a crashed worker that could not recover, …). */
  failed: number
  /** Whether the coordinator has this device's profile. */
  profileSent: boolean
}

/**
 * Once the runtime is ready, this page serves the task's models to the room (`run-model`) and
 * early-exit hops (`early-exit-hop`, as whichever tier a hop addresses), and
 * gives the coordinator its profile, again after every (re)join, since a restarted coordinator
 * knows nothing of it.
 */
export function serveAsDevice(
  mesh: Mesh,
  runtime: RuntimePageHandle,
  changed: () => void,
): ServingState {
  const state: ServingState = { served: 0, failed: 0, profileSent: false }
  let profile: DeviceProfile | null = null
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
  runtime
    .whenReady()
    .then((ready) => {
      const manifest = runtime.manifest()
      if (!manifest) return
      const loaded = new Set(
        ready.models.filter((row) => row.state === 'ready').map((row) => row.id),
      )
      const serve = modelServer(manifest, runtime.client, () => loaded)
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
      // Early exit: this device is an edge or cloud tier for whichever segment a hop names.
      mesh.handle(
        EARLY_EXIT_HOP_METHOD,
        counted(
          earlyExitServer({
            manifest,
            runner: runtime.client,
            request: (...args) => mesh.request(...args),
            rttMs: (deviceId) =>
              mesh.peers().find((peer) => peer.info.deviceId === deviceId)?.rttMs ?? null,
            self: () => mesh.self?.deviceId ?? null,
            available: () => loaded,
          }),
        ),
      )
      if (!ready.profile) return
      const planned = plannerProfile(ready.profile)
      if (!planned.ok) {
        console.warn(`cohort: this device's profile is not usable: ${planned.error}`)
        return
      }
      profile = planned.value
      sendProfile()
    })
    .catch(() => {
      // The Models section shows the runtime's failure; a device without models serves nothing.
    })
  return state
}
