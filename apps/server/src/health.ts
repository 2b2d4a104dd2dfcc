import type { ServerResponse } from 'node:http'
import { PROTOCOL_VERSION } from '@cohort/protocol'

/** The path load balancers, tests and benchmarks poll. */
export const HEALTH_PATH = '/healthz'

/** What the health endpoint reports. */
export interface Health {
  readonly ok: true
  readonly rooms: number
  readonly members: number
  readonly uptimeS: number
  readonly protocolVersion: number
  /** Origins on this machine's LAN addresses: what a page opened on localhost shows phones. */
  readonly joinOrigins: readonly string[]
}

/** Builds the health report from live counts. */
export function health(
  stats: { rooms: number; members: number },
  startedAt: number,
  now: number,
  joinOrigins: readonly string[] = [],
): Health {
  return {
    ok: true,
    rooms: stats.rooms,
    members: stats.members,
    uptimeS: Math.floor((now - startedAt) / 1000),
    protocolVersion: PROTOCOL_VERSION,
    joinOrigins,
  }
}

/** Writes a health report as uncached JSON. */
export function sendHealth(res: ServerResponse, report: Health): void {
  res.statusCode = 200
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Cache-Control', 'no-store')
  res.end(`${JSON.stringify(report)}\n`)
}
