import { CohortError } from './errors.ts'
import { err, ok, type Result } from './result.ts'
import { PROTOCOL_VERSION } from './version.ts'

/**
 * A binary tensor frame: a fixed header read through DataView, then the request id and the
 * tensor name as UTF-8, then the payload, aligned to 8 bytes so it can be viewed as a typed
 * array without copying.
 *
 *   offset  size  field
 *   0       4     magic 'CHTF'
 *   4       1     protocol version
 *   5       1     kind (FrameKind)
 *   6       1     dtype (DType)
 *   7       1     rank (0..8)
 *   8       2     request id length (bytes)
 *   10      2     name length (bytes)
 *   12      4     payload length (bytes)
 *   16      4*r   dims
 *   ...           request id, name, zero padding to 8, payload
 */
export const FRAME_MAGIC = 0x43485446 // 'CHTF'
const OFFSET_MAGIC = 0
const OFFSET_VERSION = 4
const OFFSET_KIND = 5
const OFFSET_DTYPE = 6
const OFFSET_RANK = 7
const OFFSET_REQUEST_ID_LENGTH = 8
const OFFSET_NAME_LENGTH = 10
const OFFSET_PAYLOAD_LENGTH = 12
const OFFSET_DIMS = 16
const FIXED_HEADER_BYTES = 16

/** Highest tensor rank a frame carries. */
export const MAX_RANK = 8
/** Longest request id or tensor name, in UTF-8 bytes. */
export const MAX_FRAME_STRING_BYTES = 256
/** Payloads are aligned to this many bytes inside a frame. */
export const FRAME_ALIGNMENT = 8

/** What a frame is part of. */
export type FrameKind = 'request' | 'response' | 'activation'
const FRAME_KIND_CODES: Record<FrameKind, number> = { request: 1, response: 2, activation: 3 }

/** Element types a frame carries. float16 travels as raw bits in a Uint16Array. */
export type DType = 'float32' | 'float16' | 'uint8' | 'int32'
const DTYPE_CODES: Record<DType, number> = { float32: 1, float16: 2, uint8: 3, int32: 4 }
const DTYPE_BYTES: Record<DType, number> = { float32: 4, float16: 2, uint8: 1, int32: 4 }

/** The typed array that holds each dtype's elements. */
export interface TensorDataByDType {
  float32: Float32Array
  float16: Uint16Array
  uint8: Uint8Array
  int32: Int32Array
}

/** A tensor with the facts needed to route it. */
export type TensorFrame = {
  [D in DType]: {
    readonly kind: FrameKind
    readonly requestId: string
    readonly name: string
    readonly dtype: D
    readonly dims: readonly number[]
    readonly data: TensorDataByDType[D]
  }
}[DType]

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** A tensor before it is routed: a frame without its kind and request id. */
export type Tensor = DistributiveOmit<TensorFrame, 'kind' | 'requestId'>

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

const codeToKind = invert(FRAME_KIND_CODES)
const codeToDType = invert(DTYPE_CODES)

function invert<K extends string>(record: Record<K, number>): Map<number, K> {
  return new Map(Object.entries(record).map(([key, code]) => [code as number, key as K]))
}

const align = (n: number) => Math.ceil(n / FRAME_ALIGNMENT) * FRAME_ALIGNMENT

/** Number of elements a shape holds. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((product, dim) => product * dim, 1)
}

function headerLayout(frame: TensorFrame) {
  const requestIdBytes = encoder.encode(frame.requestId)
  const nameBytes = encoder.encode(frame.name)
  const stringsOffset = OFFSET_DIMS + 4 * frame.dims.length
  const payloadOffset = align(stringsOffset + requestIdBytes.length + nameBytes.length)
  return { requestIdBytes, nameBytes, stringsOffset, payloadOffset }
}

/** Bytes the encoded frame takes. */
export function encodedFrameLength(frame: TensorFrame): number {
  return headerLayout(frame).payloadOffset + frame.data.byteLength
}

/**
 * Encodes a frame into `target` at `offset` (which must be 8-aligned) and returns the bytes
 * written. Throws a CohortError('bad-frame') for a frame that cannot be encoded: that is a bug
 * in the sender, not bad input from outside.
 */
export function encodeTensorFrameInto(frame: TensorFrame, target: Uint8Array, offset = 0): number {
  const { requestIdBytes, nameBytes, stringsOffset, payloadOffset } = headerLayout(frame)
  const problem = frameProblem(frame, requestIdBytes.length, nameBytes.length)
  if (problem) throw new CohortError('bad-frame', `cannot encode tensor frame: ${problem}`)
  const length = payloadOffset + frame.data.byteLength
  if (offset + length > target.length) {
    throw new CohortError('bad-frame', 'cannot encode tensor frame: target buffer too small')
  }
  const view = new DataView(target.buffer, target.byteOffset + offset, length)
  view.setUint32(OFFSET_MAGIC, FRAME_MAGIC)
  view.setUint8(OFFSET_VERSION, PROTOCOL_VERSION)
  view.setUint8(OFFSET_KIND, FRAME_KIND_CODES[frame.kind])
  view.setUint8(OFFSET_DTYPE, DTYPE_CODES[frame.dtype])
  view.setUint8(OFFSET_RANK, frame.dims.length)
  view.setUint16(OFFSET_REQUEST_ID_LENGTH, requestIdBytes.length)
  view.setUint16(OFFSET_NAME_LENGTH, nameBytes.length)
  view.setUint32(OFFSET_PAYLOAD_LENGTH, frame.data.byteLength)
  frame.dims.forEach((dim, axis) => {
    view.setUint32(OFFSET_DIMS + 4 * axis, dim)
  })
  target.set(requestIdBytes, offset + stringsOffset)
  target.set(nameBytes, offset + stringsOffset + requestIdBytes.length)
  target.fill(
    0,
    offset + stringsOffset + requestIdBytes.length + nameBytes.length,
    offset + payloadOffset,
  )
  target.set(
    new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength),
    offset + payloadOffset,
  )
  return length
}

/** Encodes a frame into a new buffer. */
export function encodeTensorFrame(frame: TensorFrame): Uint8Array {
  const bytes = new Uint8Array(encodedFrameLength(frame))
  encodeTensorFrameInto(frame, bytes)
  return bytes
}

function frameProblem(
  frame: TensorFrame,
  requestIdLength: number,
  nameLength: number,
): string | null {
  if (frame.dims.length > MAX_RANK) return `rank ${frame.dims.length} exceeds ${MAX_RANK}`
  if (frame.dims.some((dim) => !Number.isInteger(dim) || dim < 0 || dim > 0xffffffff)) {
    return `dims ${JSON.stringify(frame.dims)} are not unsigned 32-bit integers`
  }
  if (requestIdLength > MAX_FRAME_STRING_BYTES) return 'request id too long'
  if (nameLength > MAX_FRAME_STRING_BYTES) return 'name too long'
  const expected = elementCount(frame.dims) * DTYPE_BYTES[frame.dtype]
  if (frame.data.byteLength !== expected) {
    return `payload has ${frame.data.byteLength} bytes, shape ${JSON.stringify(frame.dims)} of ${frame.dtype} needs ${expected}`
  }
  return null
}

const badFrame = (why: string) =>
  err(new CohortError('bad-frame', `malformed tensor frame: ${why}`))

/**
 * Decodes a frame. The payload is a view into `bytes` when it is aligned, a copy otherwise.
 * Never throws: anything malformed is a CohortError('bad-frame') saying what was wrong.
 */
export function decodeTensorFrame(bytes: Uint8Array): Result<TensorFrame, CohortError> {
  if (bytes.length < FIXED_HEADER_BYTES)
    return badFrame(`${bytes.length} bytes is shorter than the header`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(OFFSET_MAGIC) !== FRAME_MAGIC) return badFrame('wrong magic number')
  const version = view.getUint8(OFFSET_VERSION)
  if (version !== PROTOCOL_VERSION) {
    return err(
      new CohortError(
        'version-mismatch',
        `tensor frame has protocol version ${version}, expected ${PROTOCOL_VERSION}`,
      ),
    )
  }
  const kind = codeToKind.get(view.getUint8(OFFSET_KIND))
  if (!kind) return badFrame(`unknown kind ${view.getUint8(OFFSET_KIND)}`)
  const dtype = codeToDType.get(view.getUint8(OFFSET_DTYPE))
  if (!dtype) return badFrame(`unknown dtype ${view.getUint8(OFFSET_DTYPE)}`)
  const rank = view.getUint8(OFFSET_RANK)
  if (rank > MAX_RANK) return badFrame(`rank ${rank} exceeds ${MAX_RANK}`)
  const requestIdLength = view.getUint16(OFFSET_REQUEST_ID_LENGTH)
  const nameLength = view.getUint16(OFFSET_NAME_LENGTH)
  if (requestIdLength > MAX_FRAME_STRING_BYTES || nameLength > MAX_FRAME_STRING_BYTES) {
    return badFrame('request id or name too long')
  }
  const payloadLength = view.getUint32(OFFSET_PAYLOAD_LENGTH)
  const stringsOffset = OFFSET_DIMS + 4 * rank
  const payloadOffset = align(stringsOffset + requestIdLength + nameLength)
  if (bytes.length !== payloadOffset + payloadLength) {
    return badFrame(
      `length ${bytes.length} does not match header (${payloadOffset + payloadLength})`,
    )
  }
  const dims: number[] = []
  for (let axis = 0; axis < rank; axis++) dims.push(view.getUint32(OFFSET_DIMS + 4 * axis))
  if (elementCount(dims) * DTYPE_BYTES[dtype] !== payloadLength) {
    return badFrame(
      `payload of ${payloadLength} bytes does not hold shape ${JSON.stringify(dims)} of ${dtype}`,
    )
  }
  let requestId: string
  let name: string
  try {
    requestId = decoder.decode(bytes.subarray(stringsOffset, stringsOffset + requestIdLength))
    name = decoder.decode(
      bytes.subarray(stringsOffset + requestIdLength, stringsOffset + requestIdLength + nameLength),
    )
  } catch {
    return badFrame('request id or name is not valid UTF-8')
  }
  const payload = bytes.subarray(payloadOffset, payloadOffset + payloadLength)
  return ok({ kind, requestId, name, dtype, dims, data: viewAs(dtype, payload) } as TensorFrame)
}

/** Views raw bytes as a dtype's typed array, copying only when the bytes are misaligned. */
export function viewAs<D extends DType>(dtype: D, payload: Uint8Array): TensorDataByDType[D] {
  const width = DTYPE_BYTES[dtype]
  const aligned = payload.byteOffset % width === 0 ? payload : payload.slice()
  const count = aligned.byteLength / width
  switch (dtype) {
    case 'float32':
      return new Float32Array(aligned.buffer, aligned.byteOffset, count) as TensorDataByDType[D]
    case 'float16':
      return new Uint16Array(aligned.buffer, aligned.byteOffset, count) as TensorDataByDType[D]
    case 'uint8':
      return aligned as TensorDataByDType[D]
    case 'int32':
      return new Int32Array(aligned.buffer, aligned.byteOffset, count) as TensorDataByDType[D]
    default:
      throw new CohortError('bad-frame', `unknown dtype ${String(dtype)}`)
  }
}
