/**
 * The Cohort SDK (`@cohort/client`): send work to a room from any page. The coordinator serves it
 * as an ES module at `/client.js`, so a page needs no build step:
 *
 *   import { joinRoom } from '/client.js'
 *   const room = await joinRoom('http://192.168.1.20:8080/r/7K3Q9M2X')
 *   await room.whenPlanned()
 *   const outcome = await room.infer(pixels)            // Float32Array of the task's input
 *   for await (const o of room.stream(images, { window: 8 })) …
 *
 * The page joins as a requester: it links to the room's devices, runs the small local parts of a
 * request itself (the ensemble's combiner, early exit's first segment) and sends the rest to the
 * devices. It must be served by the room's coordinator (its worker and models load from there).
 */
import { type InferOptions, type Outcome, Requester, type StreamOptions } from '@cohort/cohort'
import { Mesh, whenJoined, whenPlanned } from '@cohort/mesh'
import {
  CohortError,
  type DeviceId,
  type Manifest,
  normalizeRoomCode,
  type Plan,
  parseJoinUrl,
  type RoomCode,
} from '@cohort/protocol'
import { startDeviceRuntime } from './device-runtime.ts'
import { DEFAULT_TASK } from './task.ts'

export type { Answer, InferMode, InferOptions, Outcome, StreamOptions } from '@cohort/cohort'

/** A coordinator that has not welcomed this page by then is taken to be unreachable. */
export const JOIN_TIMEOUT_MS = 30_000
export { CohortError } from '@cohort/protocol'

/** How a page joins. */
export interface JoinRoomOptions {
  /** Shown to the room's host beside this requester (default: "an app"). */
  readonly label?: string
  /** The task's models to load (default: the join URL's `?task=`, else the benchmark task). */
  readonly task?: string
}

/** A room joined as a requester. */
export interface CohortRoom {
  readonly room: RoomCode
  /** This requester's id in the room. */
  readonly deviceId: DeviceId
  /** The task's manifest: its input shape and pixel scale, its class names. */
  readonly manifest: Manifest
  /** The room's current plan (null until the first one arrives). */
  readonly plan: Plan | null
  /** Resolves once the room has a plan made from at least one profiled device. */
  whenPlanned(): Promise<Plan>
  /** One request; exactly one outcome, never a rejection. */
  infer(input: Float32Array, options?: InferOptions): Promise<Outcome>
  /** Many requests, `window` in flight, outcomes in input order. */
  stream(
    inputs: Iterable<Float32Array> | AsyncIterable<Float32Array>,
    options?: StreamOptions,
  ): AsyncGenerator<Outcome, void, undefined>
  /** Requests in flight now. */
  readonly inFlight: number
  /** Leaves the room; requests in flight end with typed errors. */
  leave(): void
}

/**
 * Joins the room of `joinUrl` (a join URL such as `http://host:8080/r/CODE`, or just the code) as
 * a requester, loads the task's models and resolves once both are ready. Rejects with a
 * CohortError when the room cannot be joined (no such room, full, locked, ended, banned) or its
 * coordinator is not this page's origin.
 */
export async function joinRoom(
  joinUrl: string | URL,
  options: JoinRoomOptions = {},
): Promise<CohortRoom> {
  const { room, task } = roomOf(joinUrl, options.task)
  const mesh = new Mesh({ room, role: 'requester', label: options.label ?? 'an app' })
  let runtime: ReturnType<typeof startDeviceRuntime> | null = null
  // Settles once this requester can no longer be planned for: left, removed, or the room ended.
  let gone: (error: CohortError) => void = () => {}
  const goneAway = new Promise<never>((_, reject) => {
    gone = reject
  })
  goneAway.catch(() => undefined)
  mesh.subscribe((event) => {
    if (event.type === 'removed')
      gone(new CohortError('forbidden', `this requester was ${event.reason}`))
  })
  try {
    const welcome = await whenJoined(mesh)
    runtime = startDeviceRuntime(task, () => {})
    await runtime.whenReady()
    const manifest = runtime.manifest()
    if (!manifest) throw new CohortError('internal', `task ${task} has no manifest`)
    const requester = new Requester({ mesh, runner: runtime.client, manifest })
    const client = runtime.client
    return {
      room,
      deviceId: welcome.deviceId,
      manifest,
      get plan() {
        return mesh.plan
      },
      whenPlanned: () => Promise.race([whenPlanned(mesh), goneAway]),
      infer: (input, inferOptions) => requester.infer(input, inferOptions),
      stream: (inputs, streamOptions) => requester.stream(inputs, streamOptions),
      get inFlight() {
        return requester.inFlight
      },
      leave: () => {
        gone(new CohortError('cancelled', 'this requester left the room'))
        mesh.leave()
        client.dispose()
      },
    }
  } catch (error) {
    mesh.leave()
    runtime?.client.dispose()
    throw error instanceof CohortError ? error : new CohortError('internal', String(error))
  }
}

/** The room code and task a join URL names; the coordinator must be this page's origin. */
function roomOf(joinUrl: string | URL, task?: string): { room: RoomCode; task: string } {
  const asCode = typeof joinUrl === 'string' ? normalizeRoomCode(joinUrl) : null
  if (asCode) return { room: asCode, task: task ?? DEFAULT_TASK }
  const target = parseJoinUrl(joinUrl, location.href)
  if (!target)
    throw new CohortError(
      'bad-message',
      `not a join URL (…/r/<code>) or a room code: ${String(joinUrl)}`,
    )
  if (target.origin !== location.origin) {
    throw new CohortError(
      'forbidden',
      `load client.js from the room's coordinator (${target.origin}), not from ${location.origin}: the requester's worker and models come from there`,
    )
  }
  return { room: target.room, task: task ?? target.task ?? DEFAULT_TASK }
}
