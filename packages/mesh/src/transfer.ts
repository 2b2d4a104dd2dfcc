import {
  CHUNK_HEADER_BYTES,
  CohortError,
  decodeChunk,
  err,
  ok,
  type Result,
  splitIntoChunks,
  toCohortError,
} from '@cohort/protocol'
import type { ByteChannel } from './byte-channel.ts'

/** Pause sending while this many bytes wait in the channel (far below Chromium's 16 MiB cap). */
export const HIGH_WATER_BYTES = 1024 * 1024
/** Resume sending once the channel has drained to this. */
export const LOW_WATER_BYTES = 256 * 1024
/** Chunks are at most this big even when the channel allows more, so transfers interleave. */
export const MAX_CHUNK_BYTES = 256 * 1024

interface PendingTransfer {
  readonly chunks: Iterator<Uint8Array>
  readonly resolve: () => void
  readonly reject: (error: CohortError) => void
}

/**
 * Sends messages as chunks with backpressure. Transfers are interleaved chunk by chunk, so a
 * small request is never stuck behind a large tensor.
 */
export class ChunkSender {
  private readonly queue: PendingTransfer[] = []
  private nextTransferId = 1
  private pumping = false
  private closedWith: CohortError | null = null
  private cancelDrainWait: (() => void) | null = null
  private readonly chunkBytes: number

  constructor(private readonly channel: ByteChannel) {
    this.chunkBytes = Math.min(channel.maxMessageSize, MAX_CHUNK_BYTES)
  }

  /** Resolves once every chunk of `message` is handed to the channel. */
  send(message: Uint8Array): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith)
    const transferId = this.nextTransferId
    this.nextTransferId = (this.nextTransferId + 1) >>> 0 || 1
    return new Promise<void>((resolve, reject) => {
      this.queue.push({
        chunks: splitIntoChunks(message, transferId, this.chunkBytes),
        resolve,
        reject,
      })
      void this.pump()
    })
  }

  /** Fails every queued transfer; later sends fail at once. */
  close(error: CohortError): void {
    if (this.closedWith) return
    this.closedWith = error
    this.cancelDrainWait?.()
    for (const transfer of this.queue.splice(0)) transfer.reject(error)
  }

  private async pump(): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      while (this.queue.length > 0 && !this.closedWith) {
        if (this.channel.bufferedAmount() > HIGH_WATER_BYTES) await this.drained()
        const transfer = this.queue.shift()
        if (!transfer || this.closedWith) break
        let next: IteratorResult<Uint8Array>
        try {
          next = transfer.chunks.next()
        } catch (error) {
          transfer.reject(toCohortError(error, 'bad-frame'))
          continue
        }
        if (next.done) {
          transfer.resolve()
          continue
        }
        try {
          this.channel.send(next.value)
        } catch (error) {
          this.close(new CohortError('peer-gone', `data channel refused a chunk: ${String(error)}`))
          transfer.reject(this.closedWith ?? new CohortError('peer-gone', 'data channel closed'))
          break
        }
        this.queue.push(transfer)
      }
    } finally {
      this.pumping = false
    }
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.channel.onceDrained(LOW_WATER_BYTES, () => {
        this.cancelDrainWait = null
        resolve()
      })
      this.cancelDrainWait = () => {
        cancel()
        resolve()
      }
    })
  }
}

/** Limits that keep a misbehaving peer from exhausting memory. */
export interface AssemblerLimits {
  readonly maxMessageBytes: number
  readonly maxOpenTransfers: number
}

/** Defaults: 256 MiB per message, 64 transfers in flight per peer. */
export const DEFAULT_ASSEMBLER_LIMITS: AssemblerLimits = {
  maxMessageBytes: 256 * 1024 * 1024,
  maxOpenTransfers: 64,
}

interface OpenTransfer {
  readonly bytes: Uint8Array
  received: number
  nextIndex: number
}

/** Reassembles chunks into messages, one buffer allocated per message. */
export class ChunkAssembler {
  private readonly open = new Map<number, OpenTransfer>()

  constructor(private readonly limits: AssemblerLimits = DEFAULT_ASSEMBLER_LIMITS) {}

  /** Takes one chunk; returns the whole message when this chunk completes it, null before. */
  push(bytes: Uint8Array): Result<Uint8Array | null, CohortError> {
    const decoded = decodeChunk(bytes)
    if (!decoded.ok) return decoded
    const chunk = decoded.value
    if (chunk.first && chunk.last) {
      if (chunk.index !== 0 || chunk.payload.length !== chunk.totalBytes) {
        return this.fail(chunk.transferId, 'single chunk does not hold its whole transfer')
      }
      return ok(chunk.payload)
    }
    let transfer = this.open.get(chunk.transferId)
    if (chunk.first) {
      if (transfer) return this.fail(chunk.transferId, 'transfer started twice')
      if (chunk.totalBytes > this.limits.maxMessageBytes) {
        return this.fail(
          chunk.transferId,
          `message of ${chunk.totalBytes} bytes exceeds ${this.limits.maxMessageBytes}`,
        )
      }
      if (this.open.size >= this.limits.maxOpenTransfers) {
        return this.fail(
          chunk.transferId,
          `more than ${this.limits.maxOpenTransfers} transfers in flight`,
        )
      }
      transfer = { bytes: new Uint8Array(chunk.totalBytes), received: 0, nextIndex: 0 }
      this.open.set(chunk.transferId, transfer)
    }
    if (!transfer) return this.fail(chunk.transferId, 'chunk of a transfer that never started')
    if (chunk.index !== transfer.nextIndex || chunk.totalBytes !== transfer.bytes.length) {
      return this.fail(chunk.transferId, `chunk ${chunk.index} out of order or inconsistent`)
    }
    if (transfer.received + chunk.payload.length > transfer.bytes.length) {
      return this.fail(chunk.transferId, 'chunks overrun the announced size')
    }
    transfer.bytes.set(chunk.payload, transfer.received)
    transfer.received += chunk.payload.length
    transfer.nextIndex++
    if (!chunk.last) return ok(null)
    this.open.delete(chunk.transferId)
    if (transfer.received !== transfer.bytes.length) {
      return err(
        new CohortError(
          'bad-frame',
          `transfer ${chunk.transferId} ended short of its announced size`,
        ),
      )
    }
    return ok(transfer.bytes)
  }

  /** Transfers started and not finished. */
  get openTransfers(): number {
    return this.open.size
  }

  private fail(transferId: number, why: string): Result<never, CohortError> {
    this.open.delete(transferId)
    return err(new CohortError('bad-frame', `transfer ${transferId}: ${why}`))
  }
}

/** Bytes of payload one chunk of `channel` carries. */
export const chunkPayloadBytes = (channel: ByteChannel) =>
  Math.min(channel.maxMessageSize, MAX_CHUNK_BYTES) - CHUNK_HEADER_BYTES
