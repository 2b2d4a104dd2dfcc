import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  HOST_KEY_HEADER,
  HostKeySchema,
  PROTOCOL_VERSION,
  type RoomCode,
  RoomCodeSchema,
} from '@cohort/protocol'
import { isLoopback } from './client-address.ts'

/** The path load balancers, tests and benchmarks poll. */
export const HEALTH_PATH = '/healthz'

/**
 * What the health endpoint reports. Liveness is for anyone; the rest tells a stranger how busy
 * the server is and where it sits on its LAN, so it goes only to whoever may know.
 */
export interface Health {
  readonly ok: true
  readonly uptimeS: number
  readonly protocolVersion: number
  /** Rooms held; for requests from this machine only. */
  readonly rooms?: number
  /** Members in all rooms; for requests from this machine only. */
  readonly members?: number
  /**
   * Origins on this machine's LAN addresses, what a dashboard opened on localhost shows phones;
   * for requests from this machine or with a valid host key.
   */
  readonly joinOrigins?: readonly string[]
  /**
   * The process's memory, for soaks and dashboards of the operator; this machine only. With
   * --expose-gc the heap is read after a full collection.
   */
  readonly memory?: {
    readonly rssBytes: number
    readonly heapUsedBytes: number
    /** V8's heap as reserved from the system (used or not). */
    readonly heapTotalBytes: number
    /** Memory of JS objects held outside V8's heap (buffers, native bindings). */
    readonly externalBytes: number
  }
}

/** Who asks: the operator (this machine), a room's host (its key), or anyone at all. */
export type HealthAudience = 'operator' | 'host' | 'anyone'

/** Proxies name the client they forward for; such a request is not from this machine. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const

/**
 * Who `req` comes from. A loopback peer is the operator unless it is a reverse proxy on this
 * machine forwarding someone else (it says so in a forwarding header); otherwise a valid host key
 * in `X-Cohort-Host-Key` makes a host.
 */
export function healthAudience(
  req: IncomingMessage,
  verifyHostKey: (room: RoomCode, key: string) => boolean,
): HealthAudience {
  const forwarded = FORWARDING_HEADERS.some((name) => req.headers[name] !== undefined)
  if (isLoopback(req.socket.remoteAddress) && !forwarded) return 'operator'
  const shown = req.headers[HOST_KEY_HEADER]
  if (typeof shown !== 'string') return 'anyone'
  const colon = shown.indexOf(':')
  const room = RoomCodeSchema.safeParse(shown.slice(0, colon))
  const key = HostKeySchema.safeParse(shown.slice(colon + 1))
  if (colon < 0 || !room.success || !key.success) return 'anyone'
  return verifyHostKey(room.data, key.data) ? 'host' : 'anyone'
}

/** Builds the health report from live counts, with what `audience` may see. */
export function health(
  audience: HealthAudience,
  stats: { rooms: number; members: number },
  startedAt: number,
  now: number,
  joinOrigins: readonly string[] = [],
): Health {
  const liveness = {
    ok: true,
    uptimeS: Math.floor((now - startedAt) / 1000),
    protocolVersion: PROTOCOL_VERSION,
  } as const
  switch (audience) {
    case 'operator':
      // Run with --expose-gc (the soak does), the heap read is the live heap after a full
      // collection, so its slope over time says whether the server leaks, not when V8 last ran.
      ;(globalThis as { gc?: () => void }).gc?.()
      return {
        ...liveness,
        rooms: stats.rooms,
        members: stats.members,
        joinOrigins,
        memory: (() => {
          const usage = process.memoryUsage()
          return {
            rssBytes: usage.rss,
            heapUsedBytes: usage.heapUsed,
            heapTotalBytes: usage.heapTotal,
            externalBytes: usage.external,
          }
        })(),
      }
    case 'host':
      return { ...liveness, joinOrigins }
    case 'anyone':
      return liveness
  }
}

/** Writes a health report as uncached JSON. */
export function sendHealth(res: ServerResponse, report: Health): void {
  res.statusCode = 200
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Cache-Control', 'no-store')
  res.end(`${JSON.stringify(report)}\n`)
}
