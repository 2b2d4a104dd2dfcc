import {
  type DeviceModels,
  MAX_MODELS_PER_DEVICE,
  type Plan,
  singleModelDevice,
} from '@cohort/protocol'

/** Most standby models the planner names per device: a bound on what a replan may need at once. */
export const MAX_STANDBY_MODELS = 3

/**
 * How many of the cloud tier's best members keep the teacher: the single-model device and the
 * next ones a replan would make it, should it fail.
 */
export const TEACHER_REPLICAS = 3

/** The task's models as the model assignment needs them. */
export interface TaskModelIds {
  readonly teacher: string
  /** Each K-student set's students, in slice order. */
  readonly sets: readonly { readonly k: number; readonly students: readonly string[] }[]
}

/**
 * What each planned device keeps loaded. Assigned: the student of its ensemble group, the
 * segment of its early-exit tier, and the teacher on the device single-model requests go to.
 * Standby, at most MAX_STANDBY_MODELS: the teacher on the next cloud members, then the other
 * students of its set from the next slice on (the groups a replan after a failure moves it to).
 */
export function assignModels(
  plan: Pick<Plan, 'devices' | 'ensemble' | 'earlyExit'>,
  task: TaskModelIds,
): DeviceModels[] {
  const assigned = new Map<string, string[]>()
  const standby = new Map<string, string[]>()
  const add = (into: Map<string, string[]>, deviceId: string, model: string) => {
    const models = into.get(deviceId) ?? []
    if (!models.includes(model)) models.push(model)
    into.set(deviceId, models)
  }
  const single = singleModelDevice(plan)
  if (single) add(assigned, single, task.teacher)
  for (const tier of plan.earlyExit?.tiers ?? []) {
    for (const member of tier.members) add(assigned, member, tier.segment)
  }
  const cloud = plan.earlyExit?.tiers.at(-1)?.members ?? []
  for (const member of cloud.slice(0, TEACHER_REPLICAS)) add(standby, member, task.teacher)
  const set = task.sets.find((candidate) => candidate.k === plan.ensemble?.k)
  for (const group of plan.ensemble?.groups ?? []) {
    for (const member of group.members) {
      add(assigned, member, group.student)
      const students = set?.students ?? []
      for (let step = 1; step < students.length; step++) {
        add(standby, member, students[(group.slice + step) % students.length] as string)
      }
    }
  }
  return plan.devices.map(({ deviceId }) => {
    const mine = (assigned.get(deviceId) ?? []).slice(0, MAX_MODELS_PER_DEVICE)
    return {
      deviceId,
      assigned: mine,
      standby: (standby.get(deviceId) ?? [])
        .filter((model) => !mine.includes(model))
        .slice(0, MAX_STANDBY_MODELS),
    }
  })
}
