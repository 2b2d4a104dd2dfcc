import type { Mesh } from '@cohort/mesh'
import {
  type DeviceProfile,
  EARLY_EXIT_HOP_METHOD,
  type Manifest,
  type ModelEntry,
  RUN_MODEL_METHOD,
} from '@cohort/protocol'
import { earlyExitServer } from './early-exit-server.ts'
import type { ModelRunner } from './model-runner.ts'
import { modelServer } from './model-server.ts'
import { DEFAULT_MAX_LOADED_MODELS, type ModelSessions, PlannedModels } from './planned-models.ts'

/** What a device shows of its serving. */
export interface ServingState {
  /** Requests this device answered. */
  served: number
  /** Requests it failed (bad input, a crashed worker that could not recover, …). */
  failed: number
  /** Whether the coordinator has this device's profile. */
  profileSent: boolean
  /** The models loaded now (they follow the plan). */
  loaded: readonly string[]
}

/** Loaded-model changes within this long go to the coordinator as one report. */
export const LOADED_REPORT_DELAY_MS = 200

/** A profiled device. */
export interface ReadyDevice {
  readonly mesh: Mesh
  /** Its runtime: runs models and makes and frees their sessions. */
  readonly runner: ModelRunner & ModelSessions
  readonly manifest: Manifest
  /** Its models: the ones loaded already, where the rest come from, how many it keeps. */
  readonly models: {
    readonly loaded: Iterable<string>
    readonly bytes: (entry: ModelEntry) => Promise<ArrayBuffer>
    readonly executionProvider: DeviceProfile['executionProvider']
    readonly maxLoaded?: number
  }
  /** Its validated profile, or null when it has none the planner can use. */
  readonly profile: DeviceProfile | null
  /** Called whenever the serving state changes. */
  readonly changed?: () => void
}

/**
 * Serves a ready device to its room, the same for a browser tab and a Node process: the task's
 * models (`run-model`), early-exit hops (`early-exit-hop`, as whichever tier a hop addresses),
 * and its profile to the coordinator, again after every (re)join, since a restarted coordinator
 * knows nothing of it. Its models follow the plan (`PlannedModels`), and it tells the
 * coordinator which it has loaded, so the next plan can keep work where its models are.
 */
export function serveDevice(device: ReadyDevice): ServingState {
  const { mesh, runner, manifest, profile } = device
  const changed = device.changed ?? (() => {})
  const state: ServingState = { served: 0, failed: 0, profileSent: false, loaded: [] }
  let reportTimer: ReturnType<typeof setTimeout> | undefined
  const sendLoaded = () => {
    clearTimeout(reportTimer)
    reportTimer = undefined
    if (!mesh.self) return // sent again on the next welcome
    void mesh.tellCoordinator({ type: 'loaded', models: [...state.loaded] })
  }
  const models = new PlannedModels({
    manifest,
    sessions: runner,
    bytes: device.models.bytes,
    executionProvider: device.models.executionProvider,
    maxLoaded: device.models.maxLoaded ?? DEFAULT_MAX_LOADED_MODELS,
    loaded: device.models.loaded,
    changed: (loaded) => {
      state.loaded = [...loaded]
      changed()
      // A plan's loads and frees settle within moments of each other: one report for them all.
      reportTimer ??= setTimeout(sendLoaded, LOADED_REPORT_DELAY_MS)
    },
    log: (line) => console.warn(`cohort: ${line}`),
  })
  state.loaded = [...models.loaded()]
  const follow = () => {
    const self = mesh.self?.deviceId
    void models.follow(mesh.plan?.models.find((entry) => entry.deviceId === self))
  }
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
    if (event.type === 'welcome') {
      sendProfile()
      sendLoaded()
    }
    if (event.type === 'plan') follow()
  })
  const serve = modelServer(manifest, runner, models)
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
        models,
      }),
    ),
  )
  if (mesh.self) {
    sendProfile()
    sendLoaded()
  }
  follow()
  return state
}
