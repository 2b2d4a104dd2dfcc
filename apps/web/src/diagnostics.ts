import { ECHO_METHOD, type Mesh } from '@cohort/mesh'
import type { DeviceId } from '@cohort/protocol'

/** The outcome of echoing one tensor off one peer. */
export interface EchoOutcome {
  readonly peer: DeviceId
  readonly identical: boolean
  readonly roundTripMs: number | null
  readonly error: string | null
}

/**
 * Sends a random float32 tensor of `floatCount` elements to every open peer and checks that
 * the bytes that come back are identical to the bytes that went out.
 */
export async function echoAll(
  mesh: Mesh,
  floatCount: number,
  deadlineMs = 20_000,
): Promise<EchoOutcome[]> {
  const data = new Float32Array(floatCount)
  // Random bit patterns, NaNs and all: the path must not touch the bytes.
  const bytes = new Uint8Array(data.buffer)
  for (let offset = 0; offset < bytes.length; offset += 65_536) {
    crypto.getRandomValues(bytes.subarray(offset, offset + 65_536))
  }
  const open = mesh.peers().filter((peer) => peer.link === 'open')
  return Promise.all(
    open.map(async ({ info }): Promise<EchoOutcome> => {
      const outcome = await mesh.request(
        info.deviceId,
        ECHO_METHOD,
        [{ name: 'payload', dtype: 'float32', dims: [floatCount], data }],
        { deadlineMs },
      )
      if (!outcome.ok) {
        return {
          peer: info.deviceId,
          identical: false,
          roundTripMs: null,
          error: `${outcome.error.code}: ${outcome.error.message}`,
        }
      }
      const frame = outcome.value.frames[0]
      const identical =
        outcome.value.frames.length === 1 &&
        frame?.dtype === 'float32' &&
        frame.name === 'payload' &&
        sameBytes(frame.data, data)
      return { peer: info.deviceId, identical, roundTripMs: outcome.value.roundTripMs, error: null }
    }),
  )
}

function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength) return false
  const left = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  const right = new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
  for (let i = 0; i < left.length; i++) if (left[i] !== right[i]) return false
  return true
}
