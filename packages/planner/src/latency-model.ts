/**
 * The latency model: how long a device takes to answer one remote call for a model, from its
 * profile (measured ms per model) and its link to the requester.
 */
import { median } from '@cohort/protocol'

/** What the planner knows about a device. */
export interface DeviceSpec {
  readonly deviceId: string
  /** Median ms per inference of each model the device measured. */
  readonly msPerModel: Readonly<Record<string, number>>
  /** Round trip of the link to the requester, ms. */
  readonly rttMs: number
  /** Bandwidth of the link to the requester, bytes per ms (1 MB/s = 1000). */
  readonly bytesPerMs: number
  /** Probability that a request to this device is lost (crash or timeout). */
  readonly failureProbability: number
  /** A device that does not sleep, lock or get hidden (a Node process); browsers are not. */
  readonly alwaysOn?: boolean
  /** The models it has loaded, as it last reported (absent: not known, nothing preferred). */
  readonly loaded?: ReadonlySet<string>
}

/** What the planner knows about a model. */
export interface ModelSpec {
  readonly id: string
  readonly macs: number
  /** Bytes sent to the device per request. */
  readonly inputBytes: number
  /** Bytes the device sends back per request. */
  readonly outputBytes: number
}

/** Assumed when no device has measured anything: a modest phone with WASM (MACs per ms). */
export const DEFAULT_MACS_PER_MS = 2_000_000

/** MACs per ms the device reached on the models it measured (median), or null if none. */
export function measuredThroughput(
  device: DeviceSpec,
  models: ReadonlyMap<string, ModelSpec>,
): number | null {
  const rates: number[] = []
  for (const [id, ms] of Object.entries(device.msPerModel)) {
    const model = models.get(id)
    if (model && ms > 0) rates.push(model.macs / ms)
  }
  return rates.length === 0 ? null : median(rates)
}

/**
 * Compute ms of `model` on `device`: measured when the device measured it, otherwise the
 * model's MACs at the device's measured throughput, otherwise at `fallbackMacsPerMs`.
 */
export function computeMs(
  device: DeviceSpec,
  model: ModelSpec,
  throughput: number | null,
  fallbackMacsPerMs: number,
): number {
  const measured = device.msPerModel[model.id]
  if (measured !== undefined) return measured
  return model.macs / (throughput ?? fallbackMacsPerMs)
}

/** Predicted ms of one remote call: compute, plus the round trip, plus the bytes over the link. */
export function remoteCallMs(device: DeviceSpec, model: ModelSpec, computeTimeMs: number): number {
  return computeTimeMs + device.rttMs + (model.inputBytes + model.outputBytes) / device.bytesPerMs
}
