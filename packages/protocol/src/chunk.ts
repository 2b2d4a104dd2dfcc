import { CohortError } from './errors.ts'
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
