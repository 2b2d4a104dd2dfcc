import { DEFAULT_MAX_LOADED_MODELS, type ServingState, serveDevice } from '@cohort/cohort'
import type { Mesh } from '@cohort/mesh'
import { plannerProfile } from '@cohort/runtime/client'
import type { RuntimePageHandle } from './device-runtime.ts'

export type { ServingState } from '@cohort/cohort'

/**
 * Once the runtime is ready, this page serves the room as a device (see `serveDevice`). Until
 * then, and if the runtime fails, the state stays at zero.
 */
export function serveAsDevice(
  mesh: Mesh,
  runtime: RuntimePageHandle,
  changed: () => void,
): ServingState {
  let serving: ServingState = { served: 0, failed: 0, profileSent: false, loaded: [] }
  runtime
    .whenReady()
    .then((ready) => {
      const manifest = runtime.manifest()
      if (!manifest) return
      const planned = ready.profile ? plannerProfile(ready.profile) : null
      if (planned && !planned.ok)
        console.warn(`cohort: this device's profile is not usable: ${planned.error}`)
      serving = serveDevice({
        mesh,
        runner: runtime.client,
        manifest,
        models: {
          loaded: ready.models.filter((row) => row.state === 'ready').map((row) => row.id),
          bytes: (entry) => runtime.modelBytes(entry),
          executionProvider: ready.ep?.executionProvider ?? 'wasm',
          // As a Node device: its plan's models and standby, at most this many. (Freed sessions
          // give their WASM memory back to onnxruntime's heap, which never shrinks: the bound
          // is on its peak.)
          maxLoaded: DEFAULT_MAX_LOADED_MODELS,
        },
        profile: planned?.ok ? planned.value : null,
        changed: () => {
          runtime.showLoaded(new Set(serving.loaded))
          changed()
        },
      })
      runtime.showLoaded(new Set(serving.loaded))
      changed()
    })
    .catch(() => {
      // The Models section shows the runtime's failure; a device without models serves nothing.
    })
  // A view of whichever state is current: zeros until the device serves.
  return {
    get served() {
      return serving.served
    },
    get failed() {
      return serving.failed
    },
    get profileSent() {
      return serving.profileSent
    },
    get loaded() {
      return serving.loaded
    },
  }
}
