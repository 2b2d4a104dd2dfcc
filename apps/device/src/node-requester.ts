import { Requester } from '@cohort/cohort'
import { Mesh, whenJoined, whenPlanned } from '@cohort/mesh'
import type { Manifest, Plan } from '@cohort/protocol'
import { nodeRuntime } from '@cohort/runtime/node'
import type { NodeDeviceOptions } from './node-device.ts'
import { loadTaskModels } from './task-models.ts'
import { webrtc } from './webrtc.ts'

/** How a Node process joins as a requester: as a device does, never slowed down. */
export type NodeRequesterOptions = Omit<NodeDeviceOptions, 'slowdown'>

/** A Node process that sends work to a room. */
export interface NodeRequester {
  readonly requester: Requester
  readonly manifest: Manifest
  readonly mesh: Mesh
  /** Resolves once the room has a plan made from at least one profiled device. */
  whenPlanned(): Promise<Plan>
  leave(): void
}

/**
 * Joins the room as a requester (the coordinator plans it no work), loads the task's models for
 * the small parts a requester runs itself (the ensemble's combiner, early exit's first segment)
 * and builds the one Requester, as a page's SDK does.
 */
export async function startNodeRequester(options: NodeRequesterOptions): Promise<NodeRequester> {
  const log = options.log ?? (() => {})
  const mesh = new Mesh({
    serverUrl: options.origin,
    room: options.room,
    role: 'requester',
    label: options.label,
    webrtc,
  })
  const runtime = nodeRuntime()
  try {
    const welcome = await whenJoined(mesh)
    log(`joined as requester ${welcome.deviceId}`)
    const { manifest } = await loadTaskModels(runtime, {
      origin: options.origin,
      task: options.task,
      cacheDir: options.cacheDir,
      threads: options.threads ?? 1,
      slowdown: 1,
      log,
    })
    return {
      requester: new Requester({ mesh, runner: runtime, manifest }),
      manifest,
      mesh,
      whenPlanned: () => whenPlanned(mesh),
      leave: () => mesh.leave(),
    }
  } catch (error) {
    mesh.leave()
    throw error
  }
}
