/**
 * The load model: what a plan sustains when many requests are in flight. A device computes one
 * request at a time, so the requests per second a plan can take is bounded by its busiest
 * device: the one whose compute per request (summed over everything the plan has it answer
 * first) is largest. Network time adds latency but occupies no device.
 *
 * With `window` requests in flight and none waiting to be sent (a closed loop), throughput is
 * the smaller of `window` requests per unloaded latency and the capacity, and latency is the
 * window over the throughput (Little's law): the asymptotic bounds of a closed queueing network.
 * Batching lets a loaded device beat the bound; devices sharing one machine's cores fall below it.
 */

/** One device's work per request: the sum of the compute it does first for every request. */
export interface DeviceDemand {
  readonly deviceId: string
  /** Compute ms per request, each part weighted by the share of requests that reach it. */
  readonly msPerRequest: number
  /** What it computes (a slice, a tier), for the plan's explanation. */
  readonly serves: readonly string[]
}

/** What a plan sustains under load. */
export interface PlanCapacity {
  /** Requests per second the busiest device can take; the plan cannot answer more. */
  readonly capacityRps: number
  /** The busiest device (null when no device computes anything). */
  readonly bottleneck: DeviceDemand | null
}

/** A prediction at one window. */
export interface WindowPrediction {
  readonly window: number
  readonly requestsPerSecond: number
  readonly latencyMs: number
}

/** Largest capacity a plan reports: a device that computes nothing does not make it infinite. */
export const MAX_CAPACITY_RPS = 1_000_000

/** Adds up each device's demand and names the busiest. */
export function planCapacity(
  parts: readonly { deviceId: string; ms: number; share: number; label: string }[],
): PlanCapacity {
  const demands = new Map<string, { msPerRequest: number; serves: string[] }>()
  for (const part of parts) {
    const demand = demands.get(part.deviceId) ?? { msPerRequest: 0, serves: [] }
    demand.msPerRequest += Math.max(0, part.ms) * Math.max(0, part.share)
    demand.serves.push(part.label)
    demands.set(part.deviceId, demand)
  }
  let bottleneck: DeviceDemand | null = null
  for (const [deviceId, demand] of demands) {
    if (!bottleneck || demand.msPerRequest > bottleneck.msPerRequest)
      bottleneck = { deviceId, ...demand }
  }
  const capacityRps =
    bottleneck && bottleneck.msPerRequest > 0
      ? Math.min(MAX_CAPACITY_RPS, 1_000 / bottleneck.msPerRequest)
      : MAX_CAPACITY_RPS
  return { capacityRps, bottleneck }
}

/**
 * Throughput and latency with `window` requests in flight, from the unloaded latency and the
 * capacity: below the knee a request waits for nobody, above it every extra request only queues.
 */
export function atWindow(
  unloadedLatencyMs: number,
  capacityRps: number,
  window: number,
): WindowPrediction {
  const inFlight = Math.max(1, Math.floor(window))
  const latency = Math.max(unloadedLatencyMs, 1e-6)
  const requestsPerSecond = Math.min((1_000 * inFlight) / latency, capacityRps)
  return {
    window: inFlight,
    requestsPerSecond,
    latencyMs: (1_000 * inFlight) / requestsPerSecond,
  }
}

/** The window beyond which more requests in flight add only queueing (at least 1). */
export function kneeWindow(unloadedLatencyMs: number, capacityRps: number): number {
  return Math.max(1, (unloadedLatencyMs * capacityRps) / 1_000)
}

/** The plan's explanation line for its load. */
export function capacityLine(capacity: PlanCapacity, unloadedLatencyMs: number): string {
  const { bottleneck, capacityRps } = capacity
  if (!bottleneck) return 'Under load: no device computes anything remotely.'
  const knee = kneeWindow(unloadedLatencyMs, capacityRps)
  return `Under load: at most ${capacityRps.toFixed(0)} requests/s; ${bottleneck.deviceId} is busiest (${bottleneck.msPerRequest.toFixed(2)} ms of compute per request: ${bottleneck.serves.join(', ')}); beyond about ${knee.toFixed(1)} requests in flight, more only queue.`
}
