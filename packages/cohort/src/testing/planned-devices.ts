import type { DeviceId, PlannedDevice } from '@cohort/protocol'

/** The plan's record of browser devices at their real speed on assumed LAN links. */
export function plannedDevices(ids: readonly DeviceId[]): PlannedDevice[] {
  return ids.map((deviceId) => ({
    deviceId,
    platform: 'browser',
    executionProvider: 'wasm',
    slowdown: 1,
    rttMs: 1,
    rttMeasured: false,
    bytesPerMs: 5_000,
    bandwidthMeasured: false,
    failureProbability: 0.05,
  }))
}
