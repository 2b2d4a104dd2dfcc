import { availableParallelism, totalmem } from 'node:os'
import { type ServingState, serveDevice } from '@cohort/cohort'
import { Mesh } from '@cohort/mesh'
import { CohortError, type DeviceProfile, type Manifest, type RoomCode } from '@cohort/protocol'
import {
  chooseNodeExecutionProvider,
  type DeviceProfileReport,
  DirectoryModelCache,
  type EpChoice,
  type LocalRuntime,
  ModelStore,
  measureDeviceProfile,
  nodeRuntime,
  plannerProfile,
} from '@cohort/runtime/node'
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

const CALIBRATION_RUNS = 20
const PROFILE_RUNS = 10

/**
 * A device without a browser: it speaks the room's protocol with the same packages as a tab
 * (socket.io for signaling, simple-peer over a Node WebRTC implementation for links), downloads
 * and verifies the task's models into a cache folder, chooses between onnxruntime-node and
 * onnxruntime-web's WASM by measuring, profiles itself as a Node device (always on) and serves
 * like any device.
 */
export function startNodeDevice(options: NodeDeviceOptions): NodeDevice {
  const log = options.log ?? (() => {})
  const mesh = new Mesh({
    serverUrl: options.origin,
    room: options.room,
    role: 'device',
    label: options.label,
    webrtc,
  })
  const runtime = nodeRuntime()
  let left = false
  const joined = new Promise<void>((resolve, reject) => {
    const stop = mesh.subscribe((event) => {
      if (event.type === 'welcome') {
        stop()
        log(`joined as ${event.welcome.deviceId}`)
        resolve()
      } else if (event.type === 'signaling' && event.state === 'failed') {
        stop()
        reject(event.error ?? new CohortError('unavailable', 'could not join the room'))
      } else if (event.type === 'removed') {
        stop()
        reject(new CohortError('forbidden', `this device was ${event.reason}`))
      }
    })
  })

  // Awaited once the models are ready; a failure before then must not go unhandled.
  joined.catch(() => undefined)

  const start = async (): Promise<NodeDeviceReady> => {
    const store = await ModelStore.open({
      baseUrl: `${options.origin}/`,
      cache: await DirectoryModelCache.open(options.cacheDir),
    })
    const manifest = await store.fetchManifest(options.task)
    const bytes = new Map<string, ArrayBuffer>()
    let fromCache = 0
    for (const entry of manifest.models) {
      const stored = await store.load(entry)
      if (stored.source === 'cache') fromCache++
      bytes.set(entry.id, stored.bytes)
    }
    log(
      `${manifest.models.length} models verified (${fromCache} from ${options.cacheDir}, ${manifest.models.length - fromCache} downloaded)`,
    )
    const threads = options.threads ?? 1
    const slowdown = options.slowdown ?? 1
    await runtime.configure({ numThreads: threads, slowdown })
    const teacher = manifest.models.find((entry) => entry.id === manifest.teacher.model)
    if (!teacher) throw new CohortError('internal', `the ${options.task} manifest has no teacher`)
    const ep = await chooseNodeExecutionProvider(runtime, {
      modelId: teacher.id,
      bytes: bytes.get(teacher.id) as ArrayBuffer,
      inputs: teacher.inputs,
      runs: CALIBRATION_RUNS,
      threads,
    })
    log(ep.reason)
    for (const entry of manifest.models) {
      await runtime.loadModel(entry.id, bytes.get(entry.id) as ArrayBuffer, {
        executionProvider: ep.executionProvider,
        inputs: entry.inputs,
      })
    }
    const report = await measureDeviceProfile(runtime, {
      task: options.task,
      label: options.label,
      executionProvider: ep.executionProvider,
      epReason: ep.reason,
      threads,
      models: manifest.models.map((entry) => ({ id: entry.id, inputs: entry.inputs })),
      runs: PROFILE_RUNS,
      platform: 'node',
      slowdown,
      cores: availableParallelism(),
      memoryGb: Math.round(totalmem() / 2 ** 30),
    })
    const planned = plannerProfile(report)
    if (!planned.ok)
      throw new CohortError('internal', `the profile is not usable: ${planned.error}`)
    await joined
    if (left) throw new CohortError('cancelled', 'the device left before it was ready')
    const serving = serveDevice({
      mesh,
      runner: runtime,
      manifest,
      loaded: new Set(manifest.models.map((entry) => entry.id)),
      profile: planned.value,
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
