import type { EnsembleCandidate, EnsemblePlan } from '@cohort/protocol'
import { fanoutOf } from './failure-model.ts'
import { assignGroups, type CostMatrix, type GroupAssignment } from './group-planner.ts'
import {
  computeMs,
  DEFAULT_MACS_PER_MS,
  type DeviceSpec,
  type ModelSpec,
  measuredThroughput,
  remoteCallMs,
} from './latency-model.ts'
import { capacityLine, type PlanCapacity, planCapacity } from './load-model.ts'

/** A K-student set as the planner sees it (from the task's manifest). */
export interface StudentSetSpec {
  readonly k: number
  readonly students: readonly ModelSpec[]
  readonly combiner: ModelSpec
  /** Ensemble accuracy on the test split, %. */
  readonly accuracy: number
}

/** Knobs of the ensemble planner. */
export interface EnsembleOptions {
  /** ε: a group may fail with at most this probability per request. */
  readonly resilienceTarget: number
  /** Sets within this many points of the most accurate feasible set are considered. */
  readonly accuracyBudgetPt: number
  /** The requester's ms to run a combiner (it is tiny; measured when known). */
  readonly combinerMs: number
  /** The K the host pinned: chosen whenever the room can form it. Null: the planner chooses. */
  readonly pinnedK: number | null
}

/** Defaults: ε = 1e-3 (ALGORITHMS.md), a 1-point accuracy budget, 0.1 ms combiner, K not pinned. */
export const DEFAULT_ENSEMBLE_OPTIONS: EnsembleOptions = {
  resilienceTarget: 1e-3,
  accuracyBudgetPt: 1,
  combinerMs: 0.1,
  pinnedK: null,
}

/**
 * A device that would have to load a student first is taken as this much slower for it, so
 * among near-equal plans the planner keeps students (and K) where they are loaded, and a replan
 * needs no new downloads where it can help it.
 */
export const NOT_LOADED_COST_FACTOR = 1.1

/** The predicted ms of every device answering for every student of a set. */
export function costMatrix(
  devices: readonly DeviceSpec[],
  students: readonly ModelSpec[],
  allModels: readonly ModelSpec[],
): CostMatrix {
  const models = new Map(allModels.map((model) => [model.id, model]))
  // A device that measured nothing is assumed to be a modest phone. The prior is fixed, not
  // the room's median, so one device's estimate never moves when another device joins.
  return devices.map((device) => {
    const throughput = measuredThroughput(device, models)
    return students.map((student) => {
      const ms = remoteCallMs(
        device,
        student,
        computeMs(device, student, throughput, DEFAULT_MACS_PER_MS),
      )
      const mustLoad = device.loaded !== undefined && !device.loaded.has(student.id)
      return mustLoad ? ms * NOT_LOADED_COST_FACTOR : ms
    })
  })
}

interface Evaluated {
  readonly set: StudentSetSpec
  readonly assignment: GroupAssignment | null
}

const redundant = (assignment: GroupAssignment) =>
  assignment.groups.every((members) => members.length >= 2)

/**
 * Chooses K and the groups. Only the sets in the best resilience tier compete (the target met,
 * then every group with a backup); among them, those within the accuracy budget of the tier's
 * most accurate, and of those the lowest predicted latency (then accuracy) wins. Resilience
 * comes first because it is Cohort's promise: a more accurate or faster plan whose groups have
 * no backup turns one crash into a degraded answer. (ALGORITHMS.md has resilience as a
 * tie-break; we rank it first, and say so in the plan's explanation.) A K the host pinned wins
 * over all of this whenever the room can form it; the explanation says when it cannot.
 * Returns null when there is no device.
 */
export function planEnsemble(
  devices: readonly DeviceSpec[],
  sets: readonly StudentSetSpec[],
  options: EnsembleOptions = DEFAULT_ENSEMBLE_OPTIONS,
): EnsemblePlan | null {
  if (devices.length === 0 || sets.length === 0) return null
  const allModels = sets.flatMap((set) => [...set.students, set.combiner])
  const evaluated: Evaluated[] = sets.map((set) => ({
    set,
    assignment: assignGroups(
      devices,
      costMatrix(devices, set.students, allModels),
      set.k,
      options.resilienceTarget,
    ),
  }))
  const feasible = evaluated.filter(
    (entry): entry is Evaluated & { assignment: GroupAssignment } => entry.assignment !== null,
  )
  if (feasible.length === 0) return null
  // Resilience first: only the sets that reach the best resilience tier (target met, then every
  // group backed up) compete; among them, those within the accuracy budget of the tier's best.
  const tier = (entry: Evaluated & { assignment: GroupAssignment }) =>
    (entry.assignment.resilienceMet ? 2 : 0) + (redundant(entry.assignment) ? 1 : 0)
  const bestTier = Math.max(...feasible.map(tier))
  const contenders = feasible.filter((entry) => tier(entry) === bestTier)
  const bestAccuracy = Math.max(...contenders.map((entry) => entry.set.accuracy))
  const ranked = contenders
    .filter((entry) => entry.set.accuracy >= bestAccuracy - options.accuracyBudgetPt)
    .sort(
      (a, b) => a.assignment.latencyMs - b.assignment.latencyMs || b.set.accuracy - a.set.accuracy,
    )
  const pinned = feasible.find((entry) => entry.set.k === options.pinnedK)
  const chosen = pinned ?? ranked[0]
  if (!chosen) return null
  const { set, assignment } = chosen
  const predictedLatencyMs = assignment.latencyMs + options.combinerMs

  const candidates: EnsembleCandidate[] = evaluated.map(
    ({ set: other, assignment: otherAssignment }) => ({
      k: other.k,
      predictedLatencyMs: otherAssignment ? otherAssignment.latencyMs + options.combinerMs : null,
      accuracy: other.accuracy,
      resilienceMet: otherAssignment?.resilienceMet ?? false,
      chosen: other === set,
      reason: candidateReason(
        other,
        otherAssignment,
        chosen,
        bestAccuracy,
        options,
        devices.length,
      ),
    }),
  )
  const capacity = ensembleCapacity(devices, set, allModels, assignment, options.resilienceTarget)
  const bottleneckMembers = assignment.groups[assignment.bottleneck] ?? []
  const bottleneckDevice = devices[bottleneckMembers[0] ?? 0]?.deviceId ?? '?'
  const explanation = [
    ...pinnedNote(options.pinnedK, pinned !== undefined, sets, devices.length),
    `K=${set.k}: ${assignment.groups.map((members) => members.length).join(' + ')} devices in ${set.k} group${set.k > 1 ? 's' : ''}, ${set.accuracy.toFixed(2)}% accuracy.`,
    `Predicted ${predictedLatencyMs.toFixed(2)} ms: slice ${assignment.bottleneck} on ${bottleneckDevice} is the bottleneck (${assignment.latencyMs.toFixed(2)} ms) plus the combiner (${options.combinerMs.toFixed(2)} ms).`,
    assignment.resilienceMet
      ? `Every group fails with probability <= ${options.resilienceTarget} (worst ${Math.max(...assignment.groupFailure).toExponential(1)}).`
      : `Resilience target ${options.resilienceTarget} not reachable with ${devices.length} devices; worst group fails with probability ${Math.max(...assignment.groupFailure).toExponential(1)}.`,
    capacityLine(capacity, predictedLatencyMs),
    ...candidates
      .filter((candidate) => !candidate.chosen)
      .map((candidate) => `K=${candidate.k}: ${candidate.reason}`),
  ]
  return {
    k: set.k,
    combiner: set.combiner.id,
    groups: assignment.groups.map((members, slice) => ({
      slice,
      student: set.students[slice]?.id ?? '',
      members: members.map(
        (member) => devices[member]?.deviceId ?? '',
      ) as EnsemblePlan['groups'][number]['members'],
      predictedMs: assignment.groupMs[slice] ?? 0,
      failureProbability: assignment.groupFailure[slice] ?? 1,
      fanout: fanoutOf(
        members.map((member) => devices[member]?.failureProbability ?? 1),
        options.resilienceTarget,
      ),
    })),
    predictedLatencyMs,
    capacityRps: capacity.capacityRps,
    bottleneckSlice: assignment.bottleneck,
    resilienceTarget: options.resilienceTarget,
    resilienceMet: assignment.resilienceMet,
    candidates,
    pinnedK: options.pinnedK,
    explanation,
  }
}

/**
 * What the groups sustain under load. The requester asks each request's fanout from the members
 * with the fewest of its requests in flight, so under load a group's requests spread over all its
 * members, each taking them in proportion to its speed: the group sustains the sum of its
 * members' rates over its fanout (each request computed by `fanout` members: conservative, as a
 * loser's queued call is skipped once the winner answered). Each member's share is that
 * proportion, so every member of a group is equally busy and the plan's limit is its slowest
 * group.
 */
function ensembleCapacity(
  devices: readonly DeviceSpec[],
  set: StudentSetSpec,
  allModels: readonly ModelSpec[],
  assignment: GroupAssignment,
  resilienceTarget: number,
): PlanCapacity {
  const models = new Map(allModels.map((model) => [model.id, model]))
  return planCapacity(
    assignment.groups.flatMap((members, slice) => {
      const student = set.students[slice]
      if (!student) return []
      const timed = members.flatMap((member) => {
        const device = devices[member]
        if (!device) return []
        const ms = computeMs(
          device,
          student,
          measuredThroughput(device, models),
          DEFAULT_MACS_PER_MS,
        )
        return [{ device, ms: Math.max(ms, 1e-6) }]
      })
      const fanout = fanoutOf(
        timed.map(({ device }) => device.failureProbability),
        resilienceTarget,
      )
      const rate = timed.reduce((sum, { ms }) => sum + 1 / ms, 0)
      return timed.map(({ device, ms }) => ({
        deviceId: device.deviceId,
        ms,
        share: (fanout * (1 / ms)) / rate,
        label: `slice ${slice}`,
      }))
    }),
  )
}

/** Why the plan does or does not have the pinned K. */
function pinnedNote(
  pinnedK: number | null,
  formed: boolean,
  sets: readonly StudentSetSpec[],
  deviceCount: number,
): string[] {
  if (pinnedK === null) return []
  if (formed) return [`K=${pinnedK} is pinned by the host.`]
  const why = sets.some((set) => set.k === pinnedK)
    ? `it needs ${pinnedK} devices and the room has ${deviceCount}`
    : `the task has no K=${pinnedK} student set`
  return [`K=${pinnedK} is pinned by the host, but ${why}: the planner chose instead.`]
}

function candidateReason(
  set: StudentSetSpec,
  assignment: GroupAssignment | null,
  chosen: Evaluated & { assignment: GroupAssignment },
  bestAccuracy: number,
  options: EnsembleOptions,
  deviceCount: number,
): string {
  if (set === chosen.set) return 'chosen'
  if (options.pinnedK === chosen.set.k) return `not pinned (the host pinned K=${chosen.set.k})`
  if (!assignment) return `needs ${set.k} devices, the room has ${deviceCount}`
  if (!assignment.resilienceMet && chosen.assignment.resilienceMet) {
    return 'cannot meet the resilience target with these devices'
  }
  if (!redundant(assignment) && redundant(chosen.assignment))
    return 'some group would have no backup device'
  if (set.accuracy < bestAccuracy - options.accuracyBudgetPt) {
    return `accuracy ${set.accuracy.toFixed(2)}% is more than ${options.accuracyBudgetPt} pt below the best (${bestAccuracy.toFixed(2)}%)`
  }
  const latency = assignment.latencyMs + options.combinerMs
  const chosenLatency = chosen.assignment.latencyMs + options.combinerMs
  if (latency > chosenLatency)
    return `slower: ${latency.toFixed(2)} ms predicted vs ${chosenLatency.toFixed(2)} ms`
  return `as fast, less accurate (${set.accuracy.toFixed(2)}%)`
}
