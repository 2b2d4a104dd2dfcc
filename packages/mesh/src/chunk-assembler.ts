import { CohortError, decodeChunk, err, ok, type Result } from '@cohort/protocol'
import { type AssemblerLimits, DEFAULT_ASSEMBLER_LIMITS } from './transfer.ts'

/** Says why a transfer's first chunk is refused (null to accept), before anything is held. */
export type AdmitTransfer = (firstPayload: Uint8Array, totalBytes: number) => string | null

/** Hooks of an assembler. */
export interface AssemblerOptions {
  /** Checks what a first chunk says its transfer holds (a session reads its peer message header). */
  readonly admit?: AdmitTransfer
  /** The clock of idle expiry, in ms. */
  readonly now?: () => number
}

interface OpenTransfer {
  readonly totalBytes: number
  /**
   * Grows with what arrived (doubling, up to totalBytes): a peer that announces much and sends
   * little makes this device hold little.
   */
  bytes: Uint8Array
  received: number
  nextIndex: number
  /** Every chunk but the last carries exactly this much, as splitIntoChunks makes them. */
  readonly chunkPayload: number
  lastChunkAt: number
}

/**
 * Reassembles chunks into messages. The bytes a peer makes this device hold are bounded three
 * ways: each message by maxMessageBytes, what its open transfers announce by maxOpenBytes (and
 * what they hold by what actually arrived), and how long by idleMs.
 */
export class ChunkAssembler {
  private readonly open = new Map<number, OpenTransfer>()
  private announced = 0
  private held = 0
  private readonly admit: AdmitTransfer | undefined
  private readonly now: () => number

  constructor(
    private readonly limits: AssemblerLimits = DEFAULT_ASSEMBLER_LIMITS,
    options: AssemblerOptions = {},
  ) {
    this.admit = options.admit
    this.now = options.now ?? (() => performance.now())
  }

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
    const now = this.now()
    let transfer = this.open.get(chunk.transferId)
    if (chunk.first) {
      if (transfer) return this.fail(chunk.transferId, 'transfer started twice')
      const refused = this.refusal(chunk.payload, chunk.totalBytes, now)
      if (refused) return this.fail(chunk.transferId, refused)
      transfer = {
        totalBytes: chunk.totalBytes,
        bytes: new Uint8Array(0),
        received: 0,
        nextIndex: 0,
        chunkPayload: chunk.payload.length,
        lastChunkAt: now,
      }
      this.open.set(chunk.transferId, transfer)
      this.announced += chunk.totalBytes
    }
    if (!transfer) return this.fail(chunk.transferId, 'chunk of a transfer that never started')
    if (chunk.index !== transfer.nextIndex || chunk.totalBytes !== transfer.totalBytes) {
      return this.fail(chunk.transferId, `chunk ${chunk.index} out of order or inconsistent`)
    }
    const length = chunk.payload.length
    if (transfer.received + length > transfer.totalBytes) {
      return this.fail(chunk.transferId, 'chunks overrun the announced size')
    }
    if (chunk.last ? length > transfer.chunkPayload : length !== transfer.chunkPayload) {
      return this.fail(
        chunk.transferId,
        `chunk ${chunk.index} carries ${length} bytes, the transfer's chunks ${transfer.chunkPayload}`,
      )
    }
    this.reserve(transfer, transfer.received + length)
    transfer.bytes.set(chunk.payload, transfer.received)
    transfer.received += length
    transfer.nextIndex++
    transfer.lastChunkAt = now
    if (!chunk.last) return ok(null)
    this.drop(chunk.transferId, transfer)
    if (transfer.received !== transfer.totalBytes) {
      return err(
        new CohortError(
          'bad-frame',
          `transfer ${chunk.transferId} ended short of its announced size`,
        ),
      )
    }
    return ok(transfer.bytes)
  }

  /** Drops the transfers idle for longer than idleMs; returns how many. */
  sweep(now = this.now()): number {
    let dropped = 0
    for (const [transferId, transfer] of this.open) {
      if (now - transfer.lastChunkAt <= this.limits.idleMs) continue
      this.drop(transferId, transfer)
      dropped++
    }
    return dropped
  }

  /** Transfers started and not finished. */
  get openTransfers(): number {
    return this.open.size
  }

  /** Bytes the open transfers announce together (at most maxOpenBytes). */
  get announcedBytes(): number {
    return this.announced
  }

  /** Bytes of buffers the open transfers hold (at most what they announce). */
  get heldBytes(): number {
    return this.held
  }

  private refusal(firstPayload: Uint8Array, totalBytes: number, now: number): string | null {
    const { maxMessageBytes, maxOpenBytes, maxOpenTransfers } = this.limits
    if (totalBytes > maxMessageBytes)
      return `message of ${totalBytes} bytes exceeds ${maxMessageBytes}`
    // A transfer of more than one chunk moves data with every chunk; an empty first chunk could
    // keep one open, announcing its bytes, forever.
    if (firstPayload.length === 0) return 'first chunk of a multi-chunk transfer is empty'
    const problem = this.admit?.(firstPayload, totalBytes)
    if (problem) return problem
    const full = () =>
      this.open.size >= maxOpenTransfers || this.announced + totalBytes > maxOpenBytes
    // Idle transfers may be what fills the budget: release them before refusing a new one.
    if (full()) this.sweep(now)
    if (this.open.size >= maxOpenTransfers)
      return `more than ${maxOpenTransfers} transfers in flight`
    if (this.announced + totalBytes > maxOpenBytes) {
      return `open transfers would announce ${this.announced + totalBytes} bytes, more than ${maxOpenBytes}`
    }
    return null
  }

  /** Makes room for `needed` bytes, doubling, so each byte is copied about twice at most. */
  private reserve(transfer: OpenTransfer, needed: number): void {
    if (needed <= transfer.bytes.length) return
    const size = Math.min(transfer.totalBytes, Math.max(needed, 2 * transfer.bytes.length))
    const bytes = new Uint8Array(size)
    bytes.set(transfer.bytes.subarray(0, transfer.received))
    this.held += size - transfer.bytes.length
    transfer.bytes = bytes
  }

  private drop(transferId: number, transfer: OpenTransfer): void {
    if (this.open.get(transferId) !== transfer) return
    this.open.delete(transferId)
    this.announced -= transfer.totalBytes
    this.held -= transfer.bytes.length
  }

  private fail(transferId: number, why: string): Result<never, CohortError> {
    const transfer = this.open.get(transferId)
    if (transfer) this.drop(transferId, transfer)
    return err(new CohortError('bad-frame', `transfer ${transferId}: ${why}`))
  }
}
