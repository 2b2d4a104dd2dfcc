import { CohortError } from './errors.ts'
import { MAX_FRAMES_PER_MESSAGE, MAX_META_BYTES, PEER_MESSAGE_MAGIC } from './peer-message.ts'
import { err, ok, type Result } from './result.ts'
import { PROTOCOL_VERSION } from './version.ts'

/**
 * A data channel message is at most `maxMessageSize` bytes (256 KiB in Chromium), so a peer
 * message travels as chunks, each with this 16-byte header:
 *
 *   offset  size  field
 *   0       1     magic 0xC5
 *   1       1     protocol version
 *   2       1     flags (FIRST = 1, LAST = 2)
 *   3       1     reserved (0)
 *   4       4     transfer id (per sender, wraps)
 *   8       4     chunk index within the transfer
 *   12      4     total bytes of the transfer
 */
export const CHUNK_MAGIC = 0xc5
/** Size of a chunk's header. */
export const CHUNK_HEADER_BYTES = 16
/** Set on a transfer's first chunk. */
export const CHUNK_FIRST = 1
/** Set on a transfer's last chunk. */
export const CHUNK_LAST = 2

/** A decoded chunk header and a view of its payload. */
export interface Chunk {
  readonly transferId: number
  readonly index: number
  readonly totalBytes: number
  readonly first: boolean
  readonly last: boolean
  readonly payload: Uint8Array
}

/** Splits a message into chunks of at most `maxChunkBytes` bytes (header included). */
export function* splitIntoChunks(
  message: Uint8Array,
  transferId: number,
  maxChunkBytes: number,
): Generator<Uint8Array> {
  // Floor so no chunk exceeds a fractional limit; `!(room > 0)` also catches NaN (say, an unknown
  // maxMessageSize), which would otherwise yield no chunks at all and silently drop the message.
  const room = Math.floor(maxChunkBytes) - CHUNK_HEADER_BYTES
  if (!(room > 0))
    throw new CohortError('bad-frame', `chunk size ${maxChunkBytes} leaves no room for data`)
  const count = Math.max(1, Math.ceil(message.length / room))
  for (let index = 0; index < count; index++) {
    const payload = message.subarray(index * room, (index + 1) * room)
    const chunk = new Uint8Array(CHUNK_HEADER_BYTES + payload.length)
    const view = new DataView(chunk.buffer)
    view.setUint8(0, CHUNK_MAGIC)
    view.setUint8(1, PROTOCOL_VERSION)
    view.setUint8(2, (index === 0 ? CHUNK_FIRST : 0) | (index === count - 1 ? CHUNK_LAST : 0))
    view.setUint32(4, transferId >>> 0)
    view.setUint32(8, index)
    view.setUint32(12, message.length)
    chunk.set(payload, CHUNK_HEADER_BYTES)
    yield chunk
  }
}

/** Reads a chunk's header. Never throws. */
export function decodeChunk(bytes: Uint8Array): Result<Chunk, CohortError> {
  if (bytes.length < CHUNK_HEADER_BYTES) {
    return err(
      new CohortError('bad-frame', `chunk of ${bytes.length} bytes is shorter than its header`),
    )
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint8(0) !== CHUNK_MAGIC)
    return err(new CohortError('bad-frame', 'chunk has a wrong magic number'))
  const version = view.getUint8(1)
  if (version !== PROTOCOL_VERSION) {
    return err(
      new CohortError(
        'version-mismatch',
        `chunk has protocol version ${version}, expected ${PROTOCOL_VERSION}`,
      ),
    )
  }
  const flags = view.getUint8(2)
  return ok({
    transferId: view.getUint32(4),
    index: view.getUint32(8),
    totalBytes: view.getUint32(12),
    first: (flags & CHUNK_FIRST) !== 0,
    last: (flags & CHUNK_LAST) !== 0,
    payload: bytes.subarray(CHUNK_HEADER_BYTES),
  })
}

// A transfer carries one peer message, whose 16-byte header leads the first chunk's payload.
// These are the fields of that header a receiver reads before it holds any of the transfer;
// peer-message.ts owns the layout, and chunk.test.ts checks real messages against this reading.
const MESSAGE_HEADER_BYTES = 16
const MESSAGE_VERSION_OFFSET = 4
const MESSAGE_FRAME_COUNT_OFFSET = 6
const MESSAGE_META_LENGTH_OFFSET = 8
// The least a frame adds to a message: its 8-byte length prefix and a 16-byte frame header.
const MIN_FRAME_BYTES = 24
const align8 = (n: number) => Math.ceil(n / 8) * 8

/**
 * Why a transfer that starts with this first-chunk payload and announces `totalBytes` cannot
 * carry a peer message, or null when it can (or when the payload is too short to tell, which no
 * real channel's chunk is). Messages without frames (heartbeat, cancel, error) have exactly the
 * size their meta gives; a message with frames needs room for them. Never throws.
 */
export function firstChunkProblem(payload: Uint8Array, totalBytes: number): string | null {
  if (payload.length < MESSAGE_HEADER_BYTES) return null
  const view = new DataView(payload.buffer, payload.byteOffset, MESSAGE_HEADER_BYTES)
  if (view.getUint32(0) !== PEER_MESSAGE_MAGIC) return 'does not start with a peer message'
  const version = view.getUint8(MESSAGE_VERSION_OFFSET)
  if (version !== PROTOCOL_VERSION)
    return `carries a peer message of protocol version ${version}, expected ${PROTOCOL_VERSION}`
  const frameCount = view.getUint16(MESSAGE_FRAME_COUNT_OFFSET)
  const metaLength = view.getUint32(MESSAGE_META_LENGTH_OFFSET)
  if (frameCount > MAX_FRAMES_PER_MESSAGE)
    return `announces ${frameCount} frames, more than ${MAX_FRAMES_PER_MESSAGE}`
  if (metaLength > MAX_META_BYTES)
    return `announces a meta of ${metaLength} bytes, more than ${MAX_META_BYTES}`
  const metaEnd = align8(MESSAGE_HEADER_BYTES + metaLength)
  if (frameCount === 0 && totalBytes !== metaEnd)
    return `announces ${totalBytes} bytes for a message without frames, which takes ${metaEnd}`
  if (totalBytes < metaEnd + frameCount * MIN_FRAME_BYTES)
    return `announces ${totalBytes} bytes, too few for ${frameCount} frames`
  return null
}
