import { CHUNK_HEADER_BYTES, CohortError, splitIntoChunks, toCohortError } from '@cohort/protocol'
import type { ByteChannel } from './byte-channel.ts'

/** Pause sending while this many bytes wait in the channel (far below Chromium's 16 MiB cap). */
export const HIGH_WATER_BYTES = 1024 * 1024
/** Resume sending once the channel has drained to this. */
export const LOW_WATER_BYTES = 256 * 1024
/** Chunks are at most this big even when the channel allows more, so transfers interleave. */
export const MAX_CHUNK_BYTES = 256 * 1024

const MiB = 1024 * 1024

/**
 * What one peer may have a receiver hold (one assembler per peer link). The sender keeps to the
 * same numbers, so a well-behaved peer never meets them.
 */
export interface AssemblerLimits {
  /** Largest message, in bytes. */
  readonly maxMessageBytes: number
  /** Most bytes the open transfers (started, not finished) may announce together. */
  readonly maxOpenBytes: number
  /** Most transfers open at once. */
  readonly maxOpenTransfers: number
  /** An open transfer with no new chunk for this long is dropped and its bytes released. */
  readonly idleMs: number
}

/**
 * The largest legitimate messages are tensor frames: the shipped models move a few KiB per
 * sample (a 1×28×28 float32 input is 3 KiB, a uint8 activation 64×7×7 about 3 KiB), a model
 * brought with --models and 3×224×224 float32 inputs about 600 KiB; the diagnostics echo 1 MiB
 * and the mesh benchmark sends 4 MiB tensors, four in flight. So a message is at most 16 MiB
 * (4× the largest we send) and a peer's open transfers announce at most 32 MiB together (the
 * benchmark's 16 MiB in flight, twice over). A sender round-robins at most 64 transfers within
 * those 32 MiB, so one of them waits at most for about 16 MiB of the others' chunks between two
 * of its own: 30 s without a chunk covers links down to about 0.6 MB/s, far slower than any
 * request deadline allows.
 */
export const DEFAULT_ASSEMBLER_LIMITS: AssemblerLimits = {
  maxMessageBytes: 16 * MiB,
  maxOpenBytes: 32 * MiB,
  maxOpenTransfers: 64,
  idleMs: 30_000,
}

interface PendingTransfer {
  readonly chunks: Iterator<Uint8Array>
  /** Bytes the receiver reserves from the first chunk to the last (0: one chunk, or released). */
  openBytes: number
  /** Chunks still to hand to the channel. */
  remaining: number
  readonly resolve: () => void
  readonly reject: (error: CohortError) => void
}

/**
 * Sends messages as chunks with backpressure. Transfers are interleaved chunk by chunk, so a
 * small request is never stuck behind a large tensor. A transfer of several chunks starts only
 * when the receiver's limits (the same AssemblerLimits) have room for it, so a well-behaved
 * sender never has a transfer refused; a message of one chunk is never held open and always goes.
 */
export class ChunkSender {
  private readonly queue: PendingTransfer[] = []
  /** Transfers of several chunks waiting for the receiver's room, oldest first. */
  private readonly waiting: PendingTransfer[] = []
  private openBytes = 0
  private openCount = 0
  private nextTransferId = 1
  private pumping = false
  private closedWith: CohortError | null = null
  private cancelDrainWait: (() => void) | null = null
  private readonly chunkBytes: number

  constructor(
    private readonly channel: ByteChannel,
    private readonly limits: AssemblerLimits = DEFAULT_ASSEMBLER_LIMITS,
  ) {
    this.chunkBytes = Math.min(channel.maxMessageSize, MAX_CHUNK_BYTES)
  }

  /** Resolves once every chunk of `message` is handed to the channel. */
  send(message: Uint8Array): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith)
    const largest = Math.min(this.limits.maxMessageBytes, this.limits.maxOpenBytes)
    if (message.length > largest) {
      return Promise.reject(
        new CohortError(
          'payload-too-large',
          `a peer message is at most ${largest} bytes, this one is ${message.length}: send less per request`,
        ),
      )
    }
    const transferId = this.nextTransferId
    this.nextTransferId = (this.nextTransferId + 1) >>> 0 || 1
    const room = Math.floor(this.chunkBytes) - CHUNK_HEADER_BYTES
    const count = room > 0 ? Math.max(1, Math.ceil(message.length / room)) : 1
    return new Promise<void>((resolve, reject) => {
      const transfer: PendingTransfer = {
        chunks: splitIntoChunks(message, transferId, this.chunkBytes),
        openBytes: count > 1 ? message.length : 0,
        remaining: count,
        resolve,
        reject,
      }
      if (transfer.openBytes === 0) this.queue.push(transfer)
      else {
        this.waiting.push(transfer)
        this.startWaiting()
      }
      void this.pump()
    })
  }

  /** Fails every queued transfer; later sends fail at once. */
  close(error: CohortError): void {
    if (this.closedWith) return
    this.closedWith = error
    this.cancelDrainWait?.()
    for (const transfer of this.queue.splice(0)) transfer.reject(error)
    for (const transfer of this.waiting.splice(0)) transfer.reject(error)
  }

  /** Starts waiting transfers, oldest first, while the receiver has room (none overtakes). */
  private startWaiting(): void {
    const { maxOpenBytes, maxOpenTransfers } = this.limits
    for (let next = this.waiting[0]; next; next = this.waiting[0]) {
      if (this.openCount >= maxOpenTransfers || this.openBytes + next.openBytes > maxOpenBytes)
        return
      this.waiting.shift()
      this.openBytes += next.openBytes
      this.openCount++
      this.queue.push(next)
    }
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
          this.finished(transfer)
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
        // The receiver frees the transfer's room on its last chunk, and the channel is ordered.
        if (--transfer.remaining === 0) this.finished(transfer)
        this.queue.push(transfer)
      }
    } finally {
      this.pumping = false
    }
  }

  private finished(transfer: PendingTransfer): void {
    if (transfer.openBytes === 0) return
    this.openBytes -= transfer.openBytes
    this.openCount--
    transfer.openBytes = 0
    this.startWaiting()
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

/** Bytes of payload one chunk of `channel` carries. */
export const chunkPayloadBytes = (channel: ByteChannel) =>
  Math.min(channel.maxMessageSize, MAX_CHUNK_BYTES) - CHUNK_HEADER_BYTES
