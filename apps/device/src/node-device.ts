import { availableParallelism, totalmem } from 'node:os'
import { joinAsPlannedDevice, type ServingState, serveDevice } from '@cohort/cohort'
import { type Mesh, whenJoined } from '@cohort/mesh'
import { CohortError, type DeviceProfile, type Manifest, type RoomCode } from '@cohort/protocol'
import {
  type DeviceProfileReport,
  type EpChoice,
  type LocalRuntime,
  measureDeviceProfile,
  nodeRuntime,
  plannerProfile,
  twinKey,
} from '@cohort/runtime/node'
import { loadTaskModels } from './task-models.ts'
import { webrtc } from './webrtc.ts'

/** How one Node device joins. */
export interface NodeDeviceOptions {
  /** The coordinator's origin (`http://host:8080`). */
  readonly origin: string
  readonly room: RoomCode
  readonly task: string
  /** Shown on the dashboard. */
  readonly label: string
  /** Where verified models are kept between runs. */
  readonly cacheDir: string
  /** Intra-op threads of the native engine (default 1: devices of one machine share its cores). */
  readonly threads?: number
  /** Emulate a device this many times slower (default 1). */
  readonly slowdown?: number
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void
  /** Called with the models the device has loaded, whenever they change (they follow the plan). */
  readonly onLoaded?: (models: readonly string[]) => void
  /**
   * What another device of this process measured (engine and profile): devices of one process
   * share one machine, one engine and one slowdown, so a fleet measures once instead of once per
   * device, and its devices do not profile each other's contention.
   */
  readonly measured?: { readonly ep: EpChoice; readonly report: DeviceProfileReport }
}

/** A Node device in a room. */
export interface NodeDevice {
  readonly mesh: Mesh
  readonly runtime: LocalRuntime
  /** Resolves once the device serves (models loaded, profile sent); rejects if it cannot. */
  readonly ready: Promise<NodeDeviceReady>
  /** Leaves the room and frees the models. */
  leave(): Promise<void>
}

/** A device that serves. */
export interface NodeDeviceReady {
  readonly manifest: Manifest
  readonly ep: EpChoice
  readonly report: DeviceProfileReport
  readonly profile: DeviceProfile
  readonly serving: ServingState
}

const PROFILE_RUNS = 10

/**
 * A device without a browser: it speaks the room's protocol with the same packages as a tab
 * (socket.io for signaling, simple-peer over a Node WebRTC implementation for links), verifies
 * the task's models into a cache folder, chooses between onnxruntime-node and onnxruntime-web's
 * WASM by measuring, profiles itself as a Node device (always on) and serves like any device,
 * loading the models its plan names.
 */
export function startNodeDevice(options: NodeDeviceOptions): NodeDevice {
  const log = options.log ?? (() => {})
  // Links follow the plan, not the room: what a device of a 40-device process can afford.
  const mesh = joinAsPlannedDevice({
    serverUrl: options.origin,
    room: options.room,
    label: options.label,
    webrtc,
  })
  const runtime = nodeRuntime()
  let left = false
  const welcome = whenJoined(mesh)
  welcome.then((w) => log(`joined as ${w.deviceId}`)).catch(() => undefined)

  const start = async (): Promise<NodeDeviceReady> => {
    const threads = options.threads ?? 1
    const slowdown = options.slowdown ?? 1
    const { manifest, ep, loaded, bytes } = await loadTaskModels(runtime, {
      origin: options.origin,
      task: options.task,
      cacheDir: options.cacheDir,
      threads,
      slowdown,
      log,
      ...(options.measured ? { ep: options.measured.ep } : {}),
    })
    // The profile measures the loaded models (one per twin set); their twins take their timing.
    const report = options.measured
      ? { ...options.measured.report, label: options.label }
      : await measureDeviceProfile(runtime, {
          task: options.task,
          label: options.label,
          executionProvider: ep.executionProvider,
          epReason: ep.reason,
          threads,
          models: manifest.models.map((entry) => ({
            id: entry.id,
            inputs: entry.inputs,
            twin: twinKey(entry),
          })),
          runs: PROFILE_RUNS,
          platform: 'node',
          slowdown,
          cores: availableParallelism(),
          memoryGb: Math.round(totalmem() / 2 ** 30),
        })
    const planned = plannerProfile(report)
    if (!planned.ok)
      throw new CohortError('internal', `the profile is not usable: ${planned.error}`)
    await welcome
    if (left) throw new CohortError('cancelled', 'the device left before it was ready')
    let reported = ''
    const serving: ServingState = serveDevice({
      mesh,
      runner: runtime,
      manifest,
      models: { loaded, bytes, executionProvider: ep.executionProvider },
      profile: planned.value,
      changed: () => {
        const now = [...serving.loaded].sort().join()
        if (now === reported) return
        reported = now
        options.onLoaded?.(serving.loaded)
      },
    })
    return { manifest, ep, report, profile: planned.value, serving }
  }
  const ready = start()
  ready.catch(() => undefined)

  return {
    mesh,
    runtime,
    ready,
    async leave() {
      if (left) return
      left = true
      mesh.leave()
      for (const id of await runtime.models()) await runtime.unload(id)
    },
  }
}
