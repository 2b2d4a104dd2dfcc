import {
  assignModels,
  DEFAULT_ENSEMBLE_OPTIONS,
  type DeviceSpec,
  estimateFailureProbability,
  planEnsemble,
  planTiers,
  segmentChainFromManifest,
  studentSetsFromManifest,
  taskModelIdsFromManifest,
} from '@cohort/planner'
import type {
  DeviceId,
  DeviceOutcome,
  DeviceProfile,
  Plan,
  PlannedDevice,
  RoomCode,
  ServerPush,
} from '@cohort/protocol'
import type { ManifestCatalog } from './manifest-catalog.ts'
import type { Member, RoomRegistry } from './rooms.ts'

/** Until the host has measured its link to a device (its reports), a LAN round trip (ms) is assumed. */
export const ASSUMED_RTT_MS = 1
/** Until the host has measured its link to a device, a modest Wi-Fi bandwidth (bytes per ms) is assumed. */
export const ASSUMED_BYTES_PER_MS = 5_000
/** A replan waits for quiet, but never longer than this many debounce periods. */
export const MAX_REPLAN_DELAY_FACTOR = 10
/**
 * Failure evidence kept per room, members' and departed devices' together (a device that comes
 * back keeps its history); past this the evidence of the devices gone longest is dropped, so a
 * room that sees many devices come and go does not grow without bound.
 */
export const MAX_EVIDENCE_RECORDS = 2_048

/** How the coordinator plans rooms. */
export interface RoomPlansOptions {
  readonly registry: RoomRegistry
  readonly catalog: ManifestCatalog
  readonly push: (connectionId: string, message: ServerPush) => void
  /** Bursts of joins, leaves and profiles become one replan after this quiet time. */
  readonly debounceMs: number
  readonly defaultTask: string
  readonly now: () => number
  readonly log: (line: string) => void
}

/** What requesters reported of a device: the failure evidence and the latest measured link. */
interface Evidence {
  requests: number
  misses: number
  rttMs?: number
  bytesPerMs?: number
}

interface RoomState {
  task: string
  /** The ensemble K the host pinned, or null for the planner's choice. */
  pinnedK: number | null
  readonly profiles: Map<DeviceId, DeviceProfile>
  /** The models each device last said it has loaded. */
  readonly loaded: Map<DeviceId, ReadonlySet<string>>
  readonly outcomes: Map<DeviceId, Evidence>
  version: number
  plan: Plan | null
  timer: ReturnType<typeof setTimeout> | undefined
  /** When the pending replan was first asked for. */
  pendingSince: number | undefined
}

/**
 * The planner's side of the coordinator: it keeps each room's task, device profiles and failure
 * evidence, replans (debounced) when any of them or the membership changes, and pushes every new
 * plan version to the whole room.
 */
export class RoomPlans {
  readonly #rooms = new Map<RoomCode, RoomState>()

  constructor(private readonly options: RoomPlansOptions) {}

  /** The room's current plan, if it has one. */
  current(room: RoomCode): Plan | null {
    return this.#rooms.get(room)?.plan ?? null
  }

  /** What the room's requesters reported of a device so far (null: nothing, or forgotten). */
  evidenceOf(room: RoomCode, deviceId: DeviceId): { requests: number; misses: number } | null {
    const record = this.#rooms.get(room)?.outcomes.get(deviceId)
    return record ? { ...record } : null
  }

  /** The task a room serves. */
  task(room: RoomCode): string {
    return this.#state(room).task
  }

  /** The host chose the room's task. */
  setTask(room: RoomCode, task: string): void {
    const state = this.#state(room)
    if (state.task === task) return
    state.task = task
    this.#schedule(room)
  }

  /** The host pinned the ensemble's K (null: the planner chooses again). */
  setEnsembleK(room: RoomCode, k: number | null): void {
    const state = this.#state(room)
    if (state.pinnedK === k) return
    state.pinnedK = k
    this.#schedule(room)
  }

  /** A device reported its profile. */
  setProfile(room: RoomCode, deviceId: DeviceId, profile: DeviceProfile): void {
    this.#state(room).profiles.set(deviceId, profile)
    this.#schedule(room)
  }

  /**
   * A device reported the models it has loaded. No replan for this alone (loading follows plans,
   * and a plan following loads would chase its own tail): the next replan prefers them.
   */
  setLoaded(room: RoomCode, deviceId: DeviceId, models: readonly string[]): void {
    this.#state(room).loaded.set(deviceId, new Set(models))
  }

  /** The models a device last reported loaded (null: it has not said). */
  loadedOf(room: RoomCode, deviceId: DeviceId): ReadonlySet<string> | null {
    return this.#rooms.get(room)?.loaded.get(deviceId) ?? null
  }

  /** A requester reported how devices answered. */
  report(room: RoomCode, outcomes: readonly DeviceOutcome[]): void {
    const state = this.#state(room)
    const members = new Set(this.options.registry.membersOf(room).map((member) => member.deviceId))
    let misses = 0
    let firstMeasured = false
    for (const outcome of outcomes) {
      // Evidence about a device that already left still counts, but ids that were never seen
      // would let one member grow this map without bound.
      const known = state.outcomes.get(outcome.deviceId)
      if (!known && !members.has(outcome.deviceId)) continue
      const record: Evidence = known ?? { requests: 0, misses: 0 }
      record.requests += outcome.requests
      // The latest measurements (already smoothed by the requester); used at the next replan.
      firstMeasured ||=
        (outcome.rttMs !== undefined && record.rttMs === undefined) ||
        (outcome.bytesPerMs !== undefined && record.bytesPerMs === undefined)
      if (outcome.rttMs !== undefined) record.rttMs = outcome.rttMs
      if (outcome.bytesPerMs !== undefined) record.bytesPerMs = outcome.bytesPerMs
      const counted = Math.min(outcome.misses, outcome.requests)
      record.misses += counted
      // Re-inserted, so the map's order is the order devices were last reported on.
      state.outcomes.delete(outcome.deviceId)
      state.outcomes.set(outcome.deviceId, record)
      misses += counted
    }
    for (const deviceId of state.outcomes.keys()) {
      if (state.outcomes.size <= MAX_EVIDENCE_RECORDS) break
      if (!members.has(deviceId)) state.outcomes.delete(deviceId)
    }
    // Clean reports change estimates slowly: replan when something actually failed, or when a
    // link was measured for the first time (the plan stops assuming what it now knows).
    if (misses > 0 || firstMeasured) this.#schedule(room)
  }

  /** Someone joined: they get the current plan now; the plan changes once they send a profile. */
  joined(room: RoomCode, member: Member): void {
    const plan = this.current(room)
    if (plan) this.options.push(member.connectionId, { type: 'plan', plan })
  }

  /**
   * Someone left: their groups must be re-formed. Only a profiled device is ever planned, so a
   * requester, the host or a device that never sent a profile leaving changes no plan (and
   * joining and leaving cannot be used to churn plan versions).
   */
  left(room: RoomCode, deviceId: DeviceId): void {
    const state = this.#rooms.get(room)
    if (!state) return
    state.loaded.delete(deviceId)
    if (state.profiles.delete(deviceId)) this.#schedule(room)
  }

  /** Forgets a deleted room. */
  forget(room: RoomCode): void {
    clearTimeout(this.#rooms.get(room)?.timer)
    this.#rooms.delete(room)
  }

  /** Stops every pending replan. */
  close(): void {
    for (const state of this.#rooms.values()) clearTimeout(state.timer)
    this.#rooms.clear()
  }

  #state(room: RoomCode): RoomState {
    let state = this.#rooms.get(room)
    if (!state) {
      state = {
        task: this.options.defaultTask,
        pinnedK: null,
        profiles: new Map(),
        loaded: new Map(),
        outcomes: new Map(),
        version: 0,
        plan: null,
        timer: undefined,
        pendingSince: undefined,
      }
      this.#rooms.set(room, state)
    }
    return state
  }

  #schedule(room: RoomCode): void {
    const state = this.#state(room)
    const { debounceMs } = this.options
    const now = this.options.now()
    // A steady stream of changes (one chatty member is enough) must not postpone the plan forever.
    state.pendingSince ??= now
    const deadline = state.pendingSince + debounceMs * MAX_REPLAN_DELAY_FACTOR
    clearTimeout(state.timer)
    state.timer = setTimeout(
      () => {
        state.timer = undefined
        state.pendingSince = undefined
        this.#replan(room)
      },
      Math.max(0, Math.min(debounceMs, deadline - now)),
    )
  }

  #replan(room: RoomCode): void {
    const state = this.#rooms.get(room)
    if (!state) return
    const members = this.options.registry.membersOf(room)
    const manifest = this.options.catalog.get(state.task)
    const devices: DeviceSpec[] = []
    const planned: PlannedDevice[] = []
    for (const member of members) {
      const profile = state.profiles.get(member.deviceId)
      if (member.role !== 'device' || profile?.task !== state.task) continue
      const record = state.outcomes.get(member.deviceId)
      const loaded = state.loaded.get(member.deviceId)
      const spec: DeviceSpec = {
        deviceId: member.deviceId,
        msPerModel: profile.msPerModel,
        // Measured by the host (its requests and probes, sent with its reports); assumed until then.
        rttMs: record?.rttMs ?? ASSUMED_RTT_MS,
        bytesPerMs: record?.bytesPerMs ?? ASSUMED_BYTES_PER_MS,
        failureProbability: estimateFailureProbability(record?.requests ?? 0, record?.misses ?? 0),
        alwaysOn: profile.platform === 'node',
        ...(loaded ? { loaded } : {}),
      }
      devices.push(spec)
      planned.push({
        deviceId: member.deviceId,
        platform: profile.platform ?? 'browser',
        executionProvider: profile.executionProvider,
        slowdown: profile.slowdown ?? 1,
        rttMs: spec.rttMs,
        rttMeasured: record?.rttMs !== undefined,
        bytesPerMs: spec.bytesPerMs,
        bandwidthMeasured: record?.bytesPerMs !== undefined,
        failureProbability: spec.failureProbability,
      })
    }
    const ensemble = manifest
      ? planEnsemble(devices, studentSetsFromManifest(manifest), {
          ...DEFAULT_ENSEMBLE_OPTIONS,
          pinnedK: state.pinnedK,
        })
      : null
    // From the plan in force: a replan moves only the devices it must, so links stay up.
    const earlyExit = manifest
      ? planTiers(devices, segmentChainFromManifest(manifest), state.plan?.earlyExit ?? null)
      : null
    state.version++
    const roles = { devices: planned, ensemble, earlyExit }
    const plan: Plan = {
      version: state.version,
      task: state.task,
      createdAt: this.options.now(),
      ...roles,
      models: manifest ? assignModels(roles, taskModelIdsFromManifest(manifest)) : [],
    }
    state.plan = plan
    for (const member of members) this.options.push(member.connectionId, { type: 'plan', plan })
    const summary = ensemble
      ? `K=${ensemble.k}${state.pinnedK === null ? '' : ` (K=${state.pinnedK} pinned)`}, groups ${ensemble.groups.map((group) => group.members.length).join('+')}, ${ensemble.predictedLatencyMs.toFixed(2)} ms predicted`
      : manifest
        ? 'no profiled devices yet'
        : `no manifest for task ${state.task}`
    const tiers = earlyExit
      ? `; tiers ${earlyExit.tiers.map((tier) => `${tier.tier} ${tier.members.length}`).join(', ')}`
      : ''
    this.options.log(`${room} plan v${plan.version} (${state.task}): ${summary}${tiers}`)
  }
}
