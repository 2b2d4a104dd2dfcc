import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  CODE_ALPHABET,
  type DeviceId,
  DeviceIdSchema,
  type HostKey,
  HostKeySchema,
  type ResumeToken,
  ResumeTokenSchema,
  ROOM_CODE_LENGTH,
  type RoomCode,
  RoomCodeSchema,
} from '@cohort/protocol'

/** Length of a device id the server issues (36^10 ≈ 52 bits: collisions within a room never matter). */
export const DEVICE_ID_LENGTH = 10

const DEVICE_ID_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'

/** An HMAC-SHA256 is 32 bytes, 43 characters of unpadded base64url. */
const MAC_LENGTH = 43

/** Name of the file in the state dir that holds the server's secret. */
export const SECRET_FILE = 'secret'

/** A fresh room code: 13 Crockford base32 characters, 65 bits from the system CSPRNG. */
export function createRoomCode(): RoomCode {
  // 256 is a multiple of 32, so masking a random byte gives a uniform character.
  const bytes = randomBytes(ROOM_CODE_LENGTH)
  let code = ''
  for (const byte of bytes) code += CODE_ALPHABET[byte & 31]
  return RoomCodeSchema.parse(code)
}

/** A fresh device id: 10 characters of 0-9a-z. */
export function createDeviceId(): DeviceId {
  let id = ''
  for (let i = 0; i < DEVICE_ID_LENGTH; i++) id += DEVICE_ID_ALPHABET[randomInt(36)]
  return DeviceIdSchema.parse(id)
}

/** How long a resume token proves its device: a day covers a school day and a reload the next morning. */
export const DEFAULT_RESUME_TOKEN_LIFETIME_MS = 24 * 60 * 60_000

/** The issue time inside a resume token: seconds since 1970 in base 36, 7 digits (until year 4400). */
const ISSUED_AT_DIGITS = 7

/** What a resume token says, once its MAC checks out. */
export type ResumeProof =
  | { readonly valid: true; readonly deviceId: DeviceId; readonly issuedAt: number }
  | { readonly valid: false; readonly why: 'forged' | 'expired' }

/**
 * Issues and checks host keys and resume tokens. Both are HMACs under one server secret, so the
 * server keeps no token table and a restart with the same secret still recognises them. A host key
 * is bound to its room; a resume token to its room, its device and the time it was issued, and it
 * expires `lifetimeMs` later (every welcome hands out a fresh one, so only an absence that long
 * costs a device its id). Revoking one is the revocation list's job.
 */
export class TokenIssuer {
  readonly #secret: Buffer
  readonly #now: () => number
  readonly #lifetimeMs: number

  /** @param secret at least 16 bytes of key material */
  constructor(
    secret: Buffer,
    now: () => number = Date.now,
    lifetimeMs: number = DEFAULT_RESUME_TOKEN_LIFETIME_MS,
  ) {
    if (secret.length < 16) throw new Error('the token secret must be at least 16 bytes')
    this.#secret = secret
    this.#now = now
    this.#lifetimeMs = lifetimeMs
  }

  /** How long a resume token is valid after it was issued. */
  get resumeTokenLifetimeMs(): number {
    return this.#lifetimeMs
  }

  /** The key that proves the host role in `room`. */
  hostKey(room: RoomCode): HostKey {
    return HostKeySchema.parse(this.#mac(`host:${room}`))
  }

  /** Whether `key` is the host key of `room` (constant time). */
  verifyHostKey(room: RoomCode, key: string): boolean {
    return safeEqual(key, this.#mac(`host:${room}`))
  }

  /** The token that gives `deviceId` back to whoever presents it when rejoining `room`. */
  resumeToken(room: RoomCode, deviceId: DeviceId): ResumeToken {
    const issuedAt = Math.floor(this.#now() / 1000)
      .toString(36)
      .padStart(ISSUED_AT_DIGITS, '0')
    const mac = this.#mac(`device:${room}:${deviceId}:${issuedAt}`)
    return ResumeTokenSchema.parse(`${deviceId}${issuedAt}${mac}`)
  }

  /** What `token` proves for `room`: its device id while valid, else why not. */
  verifyResumeToken(room: RoomCode, token: string): ResumeProof {
    const body = token.slice(0, -MAC_LENGTH)
    const issuedAt = body.slice(-ISSUED_AT_DIGITS)
    const parsed = DeviceIdSchema.safeParse(body.slice(0, -ISSUED_AT_DIGITS))
    if (!parsed.success || !/^[0-9a-z]{7}$/.test(issuedAt)) return { valid: false, why: 'forged' }
    const expected = this.#mac(`device:${room}:${parsed.data}:${issuedAt}`)
    if (!safeEqual(token.slice(-MAC_LENGTH), expected)) return { valid: false, why: 'forged' }
    const issuedAtMs = Number.parseInt(issuedAt, 36) * 1000
    // A token from the future (a clock stepped back) is as good as one issued now.
    if (this.#now() - issuedAtMs >= this.#lifetimeMs) return { valid: false, why: 'expired' }
    return { valid: true, deviceId: parsed.data, issuedAt: issuedAtMs }
  }

  #mac(message: string): string {
    return createHmac('sha256', this.#secret).update(message).digest('base64url')
  }
}

function safeEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  // timingSafeEqual throws on different lengths; the length of a MAC is public anyway.
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * The server secret: from `envSecret` when given (e.g. COHORT_SECRET, for several processes sharing
 * one), else read from `<stateDir>/secret`, else generated and persisted there so tokens survive
 * a restart.
 */
export function loadOrCreateSecret(stateDir: string, envSecret?: string): Buffer {
  if (envSecret !== undefined && envSecret !== '') {
    const secret = Buffer.from(envSecret, 'utf8')
    if (secret.length < 16) throw new Error('COHORT_SECRET must be at least 16 characters long')
    return secret
  }
  const file = join(stateDir, SECRET_FILE)
  const existing = readSecretFile(file)
  if (existing) return existing
  mkdirSync(stateDir, { recursive: true, mode: 0o700 })
  try {
    // `wx` fails if another process created the file meanwhile; that process's secret wins.
    writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { flag: 'wx', mode: 0o600 })
  } catch (error) {
    if (!isErrnoException(error) || error.code !== 'EEXIST') throw error
  }
  const created = readSecretFile(file)
  if (!created) throw new Error(`could not read the secret back from ${file}`)
  return created
}

function readSecretFile(file: string): Buffer | null {
  let text: string
  try {
    text = readFileSync(file, 'utf8').trim()
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') return null
    throw error
  }
  if (!/^[0-9a-f]{32,}$/.test(text)) {
    throw new Error(`${file} is not a hex secret; delete it to generate a new one`)
  }
  return Buffer.from(text, 'hex')
}

function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error
}
