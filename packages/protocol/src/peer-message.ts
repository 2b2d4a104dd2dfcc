import { z } from 'zod'
import { CohortError, ErrorCodeSchema } from './errors.ts'
import { RequestIdSchema } from './ids.ts'
import { err, ok, type Result } from './result.ts'
import {
  decodeTensorFrame,
  encodedFrameLength,
  encodeTensorFrameInto,
  FRAME_ALIGNMENT,
  type TensorFrame,
} from './tensor-frame.ts'
import { PROTOCOL_VERSION } from './version.ts'

/**
 * What travels between two devices over a data channel: one binary message holding a small
 * JSON meta (never tensors) and zero or more tensor frames.
 *
 *   offset  size  field
 *   0       4     magic 'CHPM'
 *   4       1     protocol version
 *   5       1     reserved (0)
 *   6       2     frame count
 *   8       4     meta length (bytes of UTF-8 JSON)
 *   12      4     reserved (0)
 *   16      ...   meta, zero padding to 8
 *   then per frame: 4 bytes frame length, 4 reserved, the frame, zero padding to 8
 */
export const PEER_MESSAGE_MAGIC = 0x4348504d // 'CHPM'
const HEADER_BYTES = 16
const FRAME_PREFIX_BYTES = 8
/** Most tensor frames one message carries. */
export const MAX_FRAMES_PER_MESSAGE = 64
/** Largest meta accepted, in bytes. */
export const MAX_META_BYTES = 16_384

const MethodSchema = z.string().regex(/^[a-z][a-z0-9-]{0,47}$/, 'a method is a kebab-case name')
const TimingsSchema = z
  .record(z.string().max(32), z.number())
  .refine((record: Record<string, number>) => Object.keys(record).length <= 32)

/** JSON data: what a method's parameters and answer travel as (read-only, as senders hold it). */
export type Json =
  | string
  | number
  | boolean
  | null
  | readonly Json[]
  | { readonly [key: string]: Json | undefined }
// z.json() infers mutable arrays; the values are the same, only the view is read-only.
const JsonSchema = z.json() as unknown as z.ZodType<Json>

/** Control data of a peer message, a union tagged by `type`. */
export const PeerMetaSchema = z.discriminatedUnion('type', [
  /** Liveness; answered by nothing, expected every heartbeat interval. */
  z.object({ type: z.literal('heartbeat'), sentAt: z.number() }),
  /** Asks the peer to run `method` on the frames; it must answer within `deadlineMs`. */
  z.object({
    type: z.literal('request'),
    requestId: RequestIdSchema,
    method: MethodSchema,
    deadlineMs: z.number().positive().max(600_000),
    /** The method's parameters: JSON its own schema validates (see peer-methods.ts). */
    payload: JsonSchema.optional(),
  }),
  /** The answer to a request, with the responder's timings in ms and the method's answer. */
  z.object({
    type: z.literal('response'),
    requestId: RequestIdSchema,
    timings: TimingsSchema.optional(),
    payload: JsonSchema.optional(),
  }),
  /** A request that failed on the responder. */
  z.object({
    type: z.literal('error'),
    requestId: RequestIdSchema,
    code: ErrorCodeSchema,
    message: z.string().max(1_024),
  }),
  /** The requester no longer wants the answer. */
  z.object({ type: z.literal('cancel'), requestId: RequestIdSchema }),
])
/** Control data of a peer message. */
export type PeerMeta = z.infer<typeof PeerMetaSchema>

/** A decoded peer message. */
export interface PeerMessage {
  readonly meta: PeerMeta
  readonly frames: readonly TensorFrame[]
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })
const align = (n: number) => Math.ceil(n / FRAME_ALIGNMENT) * FRAME_ALIGNMENT

/** Encodes a message; tensor payloads are copied once, straight into the result. */
export function encodePeerMessage(meta: PeerMeta, frames: readonly TensorFrame[] = []): Uint8Array {
  if (frames.length > MAX_FRAMES_PER_MESSAGE) {
    throw new CohortError(
      'bad-frame',
      `a peer message carries at most ${MAX_FRAMES_PER_MESSAGE} frames`,
    )
  }
  const metaBytes = encoder.encode(JSON.stringify(meta))
  // A receiver rejects a larger meta without learning its request id, so the requester would
  // only find out at its deadline: fail loudly here instead.
  if (metaBytes.length > MAX_META_BYTES) {
    throw new CohortError(
      'bad-frame',
      `a peer message meta is at most ${MAX_META_BYTES} bytes of JSON, this one is ${metaBytes.length}: send large data as tensor frames`,
    )
  }
  const frameLengths = frames.map(encodedFrameLength)
  let total = align(HEADER_BYTES + metaBytes.length)
  for (const length of frameLengths) total += FRAME_PREFIX_BYTES + align(length)
  const bytes = new Uint8Array(total)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, PEER_MESSAGE_MAGIC)
  view.setUint8(4, PROTOCOL_VERSION)
  view.setUint16(6, frames.length)
  view.setUint32(8, metaBytes.length)
  bytes.set(metaBytes, HEADER_BYTES)
  let offset = align(HEADER_BYTES + metaBytes.length)
  frames.forEach((frame, index) => {
    const length = frameLengths[index] ?? 0
    view.setUint32(offset, length)
    encodeTensorFrameInto(frame, bytes, offset + FRAME_PREFIX_BYTES)
    offset += FRAME_PREFIX_BYTES + align(length)
  })
  return bytes
}

const badMessage = (why: string) =>
  err(new CohortError('bad-frame', `malformed peer message: ${why}`))

/** Decodes and validates a message. Never throws; frames are views into `bytes`. */
export function decodePeerMessage(bytes: Uint8Array): Result<PeerMessage, CohortError> {
  if (bytes.length < HEADER_BYTES)
    return badMessage(`${bytes.length} bytes is shorter than the header`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0) !== PEER_MESSAGE_MAGIC) return badMessage('wrong magic number')
  const version = view.getUint8(4)
  if (version !== PROTOCOL_VERSION) {
    return err(
      new CohortError(
        'version-mismatch',
        `peer message has protocol version ${version}, expected ${PROTOCOL_VERSION}`,
      ),
    )
  }
  const frameCount = view.getUint16(6)
  const metaLength = view.getUint32(8)
  if (frameCount > MAX_FRAMES_PER_MESSAGE)
    return badMessage(`${frameCount} frames exceed ${MAX_FRAMES_PER_MESSAGE}`)
  if (metaLength > MAX_META_BYTES || HEADER_BYTES + metaLength > bytes.length) {
    return badMessage(`meta length ${metaLength} is out of bounds`)
  }
  let metaJson: unknown
  try {
    metaJson = JSON.parse(decoder.decode(bytes.subarray(HEADER_BYTES, HEADER_BYTES + metaLength)))
  } catch {
    return badMessage('meta is not UTF-8 JSON')
  }
  const meta = PeerMetaSchema.safeParse(metaJson)
  if (!meta.success) return badMessage(`invalid meta: ${z.prettifyError(meta.error)}`)
  const frames: TensorFrame[] = []
  let offset = align(HEADER_BYTES + metaLength)
  for (let index = 0; index < frameCount; index++) {
    if (offset + FRAME_PREFIX_BYTES > bytes.length) return badMessage(`frame ${index} is missing`)
    const length = view.getUint32(offset)
    const start = offset + FRAME_PREFIX_BYTES
    if (start + length > bytes.length) return badMessage(`frame ${index} overruns the message`)
    const frame = decodeTensorFrame(bytes.subarray(start, start + length))
    if (!frame.ok) return frame
    frames.push(frame.value)
    offset = start + align(length)
  }
  if (offset !== bytes.length) return badMessage(`${bytes.length - offset} trailing bytes`)
  return ok({ meta: meta.data, frames })
}
