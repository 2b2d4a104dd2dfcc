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

/**
 * Issues and checks host keys and resume tokens. Both are HMACs of the room (and device) under one
 * server secret, so the server keeps no token table and a restart with the same secret still
 * recognises every token it ever issued.
 */
export class TokenIssuer {
  readonly #secret: Buffer

  /** @param secret at least 16 bytes of key material */
  constructor(secret: Buffer) {
    if (secret.length < 16) throw new Error('the token secret must be at least 16 bytes')
    this.#secret = secret
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
    return ResumeTokenSchema.parse(`${deviceId}${this.#mac(`device:${room}:${deviceId}`)}`)
  }

  /** The device id a resume token proves for `room`, or null when it was not issued for it. */
  verifyResumeToken(room: RoomCode, token: string): DeviceId | null {
    const parsed = DeviceIdSchema.safeParse(token.slice(0, -MAC_LENGTH))
    if (!parsed.success) return null
    const expected = this.#mac(`device:${room}:${parsed.data}`)
    return safeEqual(token.slice(-MAC_LENGTH), expected) ? parsed.data : null
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
