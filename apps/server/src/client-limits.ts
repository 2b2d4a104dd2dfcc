import { z } from 'zod'
import { isLoopback } from './client-address.ts'
import { KeyedBuckets, type RateLimitOptions, TokenBucket } from './rate-limit.ts'

/**
 * Every budget a client meets, per socket, per address (see client-address.ts) and server-wide.
 * Sized so that a classroom behind one NAT address still joins at once, while one source can
 * neither guess codes, fill rooms nor slow other rooms down.
 */
export interface ClientLimits {
  /** Messages of one socket. */
  readonly perSocket: RateLimitOptions
  /** Messages of all sockets of one address together: more sockets buy no more budget. */
  readonly perAddress: RateLimitOptions
  /**
   * Messages of all sockets that are in no room, server-wide: joins and creates from everyone.
   * Members' traffic never draws on it, so a flood of strangers cannot slow the rooms.
   */
  readonly strangers: RateLimitOptions
  /** Refused joins (no such room, wrong key, banned) per address: guessing stops quickly. */
  readonly refusedJoins: RateLimitOptions
  /** Room creations per address. */
  readonly creates: RateLimitOptions
  /** New sockets per address. */
  readonly connects: RateLimitOptions
  /** Sockets open at once per address. */
  readonly socketsPerAddress: number
  /** Seats one address may take in one room. */
  readonly seatsPerAddress: number
  /** Whether this machine's own loopback (the operator's fleets and test browsers) may take any number of seats. */
  readonly loopbackTakesAnySeats: boolean
  /** Messages dropped in a row before a socket is cut off: a flood then costs no more parsing. */
  readonly dropsBeforeDisconnect: number
  /**
   * How long a cut-off socket's sender waits (ms): a member may not rejoin as itself, a stranger's
   * address may open no new socket. A member's classmates behind the same NAT are not punished.
   */
  readonly cutOffCoolDownMs: number
}

/** Defaults; `npm start -- --help` names the options that change them. */
export const DEFAULT_CLIENT_LIMITS: ClientLimits = {
  // A newcomer to a full room links to every peer: an offer or answer and ~4 trickled candidates
  // each. A dropped candidate can silently break a link, so the burst covers a room of 64.
  perSocket: { burst: 400, perSecond: 100 },
  // One address may be a whole classroom behind NAT, or the operator's own fleet on loopback:
  // a room of 64 forming a full mesh at once sends ~4,000 signals.
  perAddress: { burst: 5_000, perSecond: 1_000 },
  strangers: { burst: 1_000, perSecond: 200 },
  refusedJoins: { burst: 10, perSecond: 1 / 6 },
  creates: { burst: 20, perSecond: 1 / 3 },
  connects: { burst: 100, perSecond: 5 },
  socketsPerAddress: 128,
  seatsPerAddress: 16,
  loopbackTakesAnySeats: true,
  dropsBeforeDisconnect: 100,
  cutOffCoolDownMs: 10_000,
}

const BudgetSchema = z.object({ burst: z.number().min(1), perSecond: z.number().min(0) })
const CountSchema = z.number().int().min(1)

/** Client limits as `--limits` takes them (JSON), checked before the server starts. */
export const ClientLimitsSchema = z.object({
  perSocket: BudgetSchema,
  perAddress: BudgetSchema,
  strangers: BudgetSchema,
  refusedJoins: BudgetSchema,
  creates: BudgetSchema,
  connects: BudgetSchema,
  socketsPerAddress: CountSchema,
  seatsPerAddress: CountSchema,
  loopbackTakesAnySeats: z.boolean(),
  dropsBeforeDisconnect: CountSchema,
  cutOffCoolDownMs: z.number().min(0),
}) satisfies z.ZodType<ClientLimits>

/** Limits to change; the others keep their defaults. */
export type LimitOverrides = { readonly [K in keyof ClientLimits]?: ClientLimits[K] | undefined }

/** The defaults with `overrides` applied, checked (a zero burst would refuse everything). */
export function clientLimits(overrides: LimitOverrides = {}): ClientLimits {
  const merged: Record<string, unknown> = { ...DEFAULT_CLIENT_LIMITS }
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) merged[key] = value
  return ClientLimitsSchema.parse(merged)
}

/** Which budget refused a message. */
export type Refusal = 'socket' | 'address' | 'strangers'

/**
 * The message budgets of one server: a socket's own bucket, its address's and — for sockets in no
 * room — the strangers' shared one. Buckets are taken cheapest-first and only when the earlier
 * ones had room, so one flooding socket does not drain its neighbours' shared buckets.
 */
export class MessageBudgets {
  readonly #limits: ClientLimits
  readonly #now: () => number
  readonly #byAddress: KeyedBuckets
  readonly #refusedJoins: KeyedBuckets
  readonly #creates: KeyedBuckets
  readonly #connects: KeyedBuckets
  readonly #strangers: TokenBucket
  readonly #openSockets = new Map<string, number>()
  /** Addresses whose stranger socket was cut off, and until when they may not open another. */
  readonly #coolingDown = new Map<string, number>()
  /** Members (`room/deviceId`) whose socket was cut off, and until when they may not rejoin. */
  readonly #coolingMembers = new Map<string, number>()

  constructor(limits: ClientLimits, now: () => number) {
    this.#limits = limits
    this.#now = now
    this.#byAddress = new KeyedBuckets(limits.perAddress, now)
    this.#refusedJoins = new KeyedBuckets(limits.refusedJoins, now)
    this.#creates = new KeyedBuckets(limits.creates, now)
    this.#connects = new KeyedBuckets(limits.connects, now)
    this.#strangers = new TokenBucket(limits.strangers, now)
  }

  /** The limits in force. */
  get limits(): ClientLimits {
    return this.#limits
  }

  /** A bucket for one new socket. */
  socketBucket(): TokenBucket {
    return new TokenBucket(this.#limits.perSocket, this.#now)
  }

  /** Takes a message's tokens; null when every budget had room, else the one that did not. */
  admit(socket: TokenBucket, address: string, inRoom: boolean): Refusal | null {
    if (!socket.take()) return 'socket'
    if (!this.#byAddress.take(address)) return 'address'
    if (!inRoom && !this.#strangers.take()) return 'strangers'
    return null
  }

  /** Whether `address` may still try to join (it has not used up its refused joins). */
  mayTryJoin(address: string): boolean {
    return this.#refusedJoins.available(address) >= 1
  }

  /** Counts a refused join against `address`. */
  joinRefused(address: string): void {
    this.#refusedJoins.take(address)
  }

  /** Takes a room creation from `address`'s budget. */
  mayCreate(address: string): boolean {
    return this.#creates.take(address)
  }

  /** Whether `address` may open another socket: not too many open, not too many too fast. */
  mayConnect(
    address: string,
  ): 'ok' | 'too many sockets from this address' | 'connecting too fast' | 'cut off for flooding' {
    const until = this.#coolingDown.get(address)
    if (until !== undefined) {
      if (this.#now() < until) return 'cut off for flooding'
      this.#coolingDown.delete(address)
    }
    if ((this.#openSockets.get(address) ?? 0) >= this.#limits.socketsPerAddress) {
      return 'too many sockets from this address'
    }
    return this.#connects.take(address) ? 'ok' : 'connecting too fast'
  }

  /**
   * A socket was cut off for flooding. A member (`room/deviceId`) waits before it may rejoin as
   * itself; a stranger's address waits before it opens another socket.
   */
  cutOff(address: string, member: string | null): void {
    const until = this.#now() + this.#limits.cutOffCoolDownMs
    if (member === null) this.#coolingDown.set(address, until)
    else this.#coolingMembers.set(member, until)
  }

  /** Ms until `member` (`room/deviceId`), cut off for flooding, may rejoin; 0 when it may now. */
  rejoinWaitMs(member: string): number {
    const until = this.#coolingMembers.get(member)
    if (until === undefined) return 0
    const wait = until - this.#now()
    if (wait > 0) return wait
    this.#coolingMembers.delete(member)
    return 0
  }

  /** A socket of `address` opened. */
  opened(address: string): void {
    this.#openSockets.set(address, (this.#openSockets.get(address) ?? 0) + 1)
  }

  /** A socket of `address` closed. */
  closed(address: string): void {
    const open = (this.#openSockets.get(address) ?? 0) - 1
    if (open > 0) this.#openSockets.set(address, open)
    else this.#openSockets.delete(address)
  }

  /** Whether an address of this kind is limited to `seatsPerAddress` seats in a room. */
  seatLimitApplies(address: string): boolean {
    return !(this.#limits.loopbackTakesAnySeats && isLoopback(address))
  }

  /** Forgets full buckets, so memory holds only recent senders. */
  sweep(): void {
    this.#byAddress.sweep()
    this.#refusedJoins.sweep()
    this.#creates.sweep()
    this.#connects.sweep()
    const now = this.#now()
    for (const cooling of [this.#coolingDown, this.#coolingMembers])
      for (const [key, until] of cooling) if (until <= now) cooling.delete(key)
  }
}
