import {
  type DeviceId,
  MAX_MODELS_PER_DEVICE,
  type Plan,
  singleModelDevice,
} from '@cohort/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { costMatrix, NOT_LOADED_COST_FACTOR, planEnsemble } from './ensemble-planner.ts'
import type { DeviceSpec, ModelSpec } from './latency-model.ts'
import { assignModels, MAX_STANDBY_MODELS, type TaskModelIds } from './model-assignment.ts'
import { roomArbitrary, studentSets } from './testing.ts'
import { planTiers, type SegmentChainSpec } from './tier-planner.ts'

const sets = studentSets()
const chain: SegmentChainSpec = {
  segments: [
    { id: 'segment-1', macs: 800_000, inputBytes: 3_136, outputBytes: 40 },
    { id: 'segment-2', macs: 1_500_000, inputBytes: 1_184, outputBytes: 40 },
    { id: 'segment-3', macs: 3_200_000, inputBytes: 2_360, outputBytes: 40 },
  ],
  thresholds: [0.9, 0.8],
  exitFractions: [0.6, 0.3, 0.1],
}
const task: TaskModelIds = {
  teacher: 'teacher',
  sets: sets.map((set) => ({ k: set.k, students: set.students.map((s) => s.id) })),
}
const allModels: ModelSpec[] = [...sets.flatMap((set) => set.students), ...chain.segments]

/** A plan as the coordinator forms it, without the model assignment. */
const planFor = (
  devices: readonly DeviceSpec[],
): Pick<Plan, 'devices' | 'ensemble' | 'earlyExit'> => ({
  devices: devices.map((device) => ({
    deviceId: device.deviceId as DeviceId,
    platform: 'browser',
    executionProvider: 'wasm',
    slowdown: 1,
    rttMs: device.rttMs,
    rttMeasured: false,
    bytesPerMs: device.bytesPerMs,
    bandwidthMeasured: false,
    failureProbability: device.failureProbability,
  })),
  ensemble: planEnsemble(devices, sets),
  earlyExit: planTiers(devices, chain),
})

describe('assignModels', () => {
  it('has every device keep what its roles run, and a bounded standby apart from it', () => {
    fc.assert(
      fc.property(roomArbitrary(1, 24, allModels), (devices) => {
        const plan = planFor(devices)
        const models = assignModels(plan, task)
        expect(models.map((m) => m.deviceId)).toEqual(devices.map((d) => d.deviceId))
        const of = (deviceId: string) => models.find((m) => m.deviceId === deviceId)
        for (const group of plan.ensemble?.groups ?? []) {
          for (const member of group.members) expect(of(member)?.assigned).toContain(group.student)
        }
        for (const tier of plan.earlyExit?.tiers ?? []) {
          for (const member of tier.members) expect(of(member)?.assigned).toContain(tier.segment)
        }
        expect(of(singleModelDevice(plan) as string)?.assigned).toContain('teacher')
        for (const device of models) {
          expect(device.assigned.length).toBeLessThanOrEqual(MAX_MODELS_PER_DEVICE)
          expect(device.standby.length).toBeLessThanOrEqual(MAX_STANDBY_MODELS)
          expect(device.standby.filter((id) => device.assigned.includes(id))).toEqual([])
          expect(new Set(device.assigned).size).toBe(device.assigned.length)
        }
      }),
    )
  })

  it('puts the other students of the set on standby, and the teacher on the next cloud members', () => {
    const devices: DeviceSpec[] = Array.from({ length: 12 }, (_, i) => ({
      deviceId: `device${String(i).padStart(2, '0')}`,
      msPerModel: {},
      rttMs: 1,
      bytesPerMs: 5_000,
      failureProbability: 0.01,
    }))
    const plan = planFor(devices)
    const ensemble = plan.ensemble
    if (!ensemble) throw new Error('no ensemble plan')
    const models = assignModels(plan, task)
    const students = task.sets.find((set) => set.k === ensemble.k)?.students ?? []
    const cloud = plan.earlyExit?.tiers.at(-1)?.members ?? []
    for (const group of ensemble.groups) {
      for (const member of group.members) {
        const mine = models.find((m) => m.deviceId === member)
        // The other students from the next slice on, wrapping round.
        const others = students.map((_, step) => students[(group.slice + step) % students.length])
        const expected = [
          ...(cloud.slice(1, 3).includes(member) ? ['teacher'] : []),
          ...others.slice(1),
        ].slice(0, MAX_STANDBY_MODELS)
        expect(mine?.standby).toEqual(expected)
      }
    }
  })
})

describe('costMatrix', () => {
  it('takes a device that must load a student first as slower for it, and only then', () => {
    const student = sets[1]?.students ?? []
    const base: DeviceSpec = {
      deviceId: 'aaaaaaaa',
      msPerModel: { [student[0]?.id as string]: 2, [student[1]?.id as string]: 2 },
      rttMs: 1,
      bytesPerMs: 5_000,
      failureProbability: 0.01,
    }
    const unknown = costMatrix([base], student, allModels)[0] ?? []
    const loadedFirst =
      costMatrix(
        [{ ...base, loaded: new Set([student[0]?.id as string]) }],
        student,
        allModels,
      )[0] ?? []
    expect(loadedFirst[0]).toBeCloseTo(unknown[0] as number)
    expect(loadedFirst[1]).toBeCloseTo((unknown[1] as number) * NOT_LOADED_COST_FACTOR)
  })

  it('keeps a student with the devices that have it loaded, among equal devices', () => {
    // Eight identical devices; four have loaded K=2's first student, four its second. The plan
    // groups them as they are loaded, so no device must load anything.
    const [first, second] = sets[1]?.students ?? []
    const devices: DeviceSpec[] = Array.from({ length: 8 }, (_, i) => ({
      deviceId: `device0${i}`,
      msPerModel: {},
      rttMs: 1,
      bytesPerMs: 5_000,
      failureProbability: 0.01,
      loaded: new Set([(i % 2 === 0 ? first : second)?.id as string]),
    }))
    const plan = planEnsemble(devices, [sets[1] as (typeof sets)[number]])
    for (const group of plan?.groups ?? []) {
      for (const member of group.members) {
        const device = devices.find((d) => d.deviceId === member)
        expect(device?.loaded?.has(group.student)).toBe(true)
      }
    }
    expect(plan?.groups.flatMap((g) => g.members).length).toBe(8)
  })
})
