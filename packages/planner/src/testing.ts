import fc from 'fast-check'
import type { StudentSetSpec } from './ensemble-planner.ts'
import type { DeviceSpec, ModelSpec } from './latency-model.ts'

/** Student sets shaped like the shipped ones: K students of about 1/K of an 8M-MAC teacher. */
export function studentSets(ks: readonly number[] = [1, 2, 3, 4]): StudentSetSpec[] {
  return ks.map((k) => ({
    k,
    students: Array.from(
      { length: k },
      (_, index): ModelSpec => ({
        id: `s${k}-${index}`,
        macs: Math.round(8e6 / k) + index * 10_000,
        inputBytes: 28 * 28 * 4,
        outputBytes: Math.round(256 / k) * 4,
      }),
    ),
    combiner: { id: `c${k}`, macs: 2_560, inputBytes: 0, outputBytes: 0 },
    accuracy: 92 - k * 0.2,
  }))
}

/** Random devices: speeds over two orders of magnitude, LAN-like links, failure 0.5%–20%. */
export const deviceArbitrary = (
  id: number,
  models: readonly ModelSpec[],
): fc.Arbitrary<DeviceSpec> =>
  fc
    .record({
      macsPerMs: fc.double({ min: 1e5, max: 1e7, noNaN: true }),
      measuredShare: fc.double({ min: 0, max: 1, noNaN: true }),
      rttMs: fc.double({ min: 0.2, max: 8, noNaN: true }),
      bytesPerMs: fc.double({ min: 500, max: 50_000, noNaN: true }),
      failureProbability: fc.constantFrom(0.005, 0.01, 0.02, 0.05, 0.1, 0.2),
    })
    .map(({ macsPerMs, measuredShare, rttMs, bytesPerMs, failureProbability }) => {
      const measured = models.slice(0, Math.round(measuredShare * models.length))
      return {
        deviceId: `device${id}`,
        msPerModel: Object.fromEntries(measured.map((model) => [model.id, model.macs / macsPerMs])),
        rttMs,
        bytesPerMs,
        failureProbability,
      }
    })

/** A room of `min`..`max` random devices. */
export const roomArbitrary = (
  min: number,
  max: number,
  models: readonly ModelSpec[],
): fc.Arbitrary<DeviceSpec[]> =>
  fc
    .integer({ min, max })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, id) => deviceArbitrary(id, models))))
    .map((devices) => [...devices])
