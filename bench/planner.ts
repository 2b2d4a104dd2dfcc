/**
 * Planner micro-benchmark: planEnsemble on synthetic rooms of 10 to 1,000 devices (speeds over
 * two orders of magnitude, LAN links, 0.5–20% failure), pure computation in this process.
 */

import { type DeviceSpec, planEnsemble, type StudentSetSpec } from '@cohort/planner'
import { quantile } from '@cohort/protocol'
import type { PlannerResult } from './report-types.ts'

const SIZES = [10, 100, 1_000]
const REPEATS = 21

function studentSets(): StudentSetSpec[] {
  return [1, 2, 3, 4].map((k) => ({
    k,
    students: Array.from({ length: k }, (_, index) => ({
      id: `s${k}-${index}`,
      macs: Math.round(8e6 / k),
      inputBytes: 28 * 28 * 4,
      outputBytes: Math.round(256 / k) * 4,
    })),
    combiner: { id: `c${k}`, macs: 2_560, inputBytes: 0, outputBytes: 0 },
    accuracy: 92 - k * 0.2,
  }))
}

// A fixed LCG so every run plans the same rooms.
function rooms(n: number, seed: number): DeviceSpec[] {
  let state = seed
  const random = () => {
    state = (state * 1_664_525 + 1_013_904_223) % 4_294_967_296
    return state / 4_294_967_296
  }
  const sets = studentSets()
  return Array.from({ length: n }, (_, index) => {
    const macsPerMs = 10 ** (5 + 2 * random())
    return {
      deviceId: `device${index}`,
      msPerModel: Object.fromEntries(
        sets.flatMap((set) => set.students).map((model) => [model.id, model.macs / macsPerMs]),
      ),
      rttMs: 0.2 + 8 * random(),
      bytesPerMs: 500 + 50_000 * random(),
      failureProbability: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2][Math.floor(random() * 6)] ?? 0.05,
    }
  })
}

/** Times the planner on each room size. */
export function measurePlanner(): PlannerResult[] {
  const sets = studentSets()
  return SIZES.map((n) => {
    const devices = rooms(n, n)
    const times: number[] = []
    let plan = planEnsemble(devices, sets)
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      const started = performance.now()
      plan = planEnsemble(devices, sets)
      times.push(performance.now() - started)
    }
    return {
      devices: n,
      p50Ms: quantile(times, 0.5),
      p95Ms: quantile(times, 0.95),
      k: plan?.k ?? null,
      predictedLatencyMs: plan?.predictedLatencyMs ?? null,
    }
  })
}
