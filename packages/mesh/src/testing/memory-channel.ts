import type { ByteChannel } from '../byte-channel.ts'

/** How queued bytes leave a memory channel. */
export type MemoryDelivery =
  /** Everything queued is delivered, in order, on the next microtask. */
  | 'microtask'
  /** Bytes stay queued (and count in `bufferedAmount`) until the test calls `drain`. */
  | 'manual'

/** Options of `memoryChannelPair`. */
export interface MemoryChannelOptions {
  /** Largest message `send` accepts; 256 KiB (Chromium's) unless told. */
  readonly maxMessageSize?: number
  readonly delivery?: MemoryDelivery
}

/** One end of an in-memory channel: a ByteChannel plus the knobs a test turns. */
export interface MemoryChannelEnd extends ByteChannel {
  /** Where messages sent by the other end arrive. */
  onMessage(handler: (message: Uint8Array) => void): void
  /**
   * Delivers queued messages, oldest first, until `maxBytes` have gone (a message is never
   * split), then runs the drain listeners whose threshold is now met. Returns bytes delivered.
   */
  drain(maxBytes?: number): number
  /** Closes this end: `send` throws from now on and drain listeners fire, as on a data channel. */
  close(): void
  /** Highest `bufferedAmount()` seen right after a send. */
  readonly peakBufferedAmount: number
  /** Messages `send` accepted. */
  readonly sentCount: number
  /** Drain listeners registered and not yet fired or cancelled. */
  readonly drainListenerCount: number
}

interface DrainListener {
  readonly threshold: number
  readonly listener: () => void
}

class MemoryEnd implements MemoryChannelEnd {
  peer: MemoryEnd | null = null
  peakBufferedAmount = 0
  sentCount = 0
  private handler: ((message: Uint8Array) => void) | null = null
  private readonly outbox: Uint8Array[] = []
  private buffered = 0
  private closed = false
  private flushScheduled = false
  private readonly listeners = new Set<DrainListener>()

  constructor(
    readonly maxMessageSize: number,
    private readonly delivery: MemoryDelivery,
  ) {}

  get drainListenerCount(): number {
    return this.listeners.size
  }

  bufferedAmount(): number {
    return this.buffered
  }

  send(message: Uint8Array): void {
    if (this.closed) throw new Error('memory channel is closed')
    if (message.length > this.maxMessageSize) {
      throw new Error(`message of ${message.length} bytes exceeds ${this.maxMessageSize}`)
    }
    // Copy, as a real channel does: the sender may reuse its buffer.
    this.outbox.push(message.slice())
    this.buffered += message.length
    this.sentCount++
    this.peakBufferedAmount = Math.max(this.peakBufferedAmount, this.buffered)
    if (this.delivery === 'microtask' && !this.flushScheduled) {
      this.flushScheduled = true
      queueMicrotask(() => {
        this.flushScheduled = false
        this.drain()
      })
    }
  }

  onceDrained(threshold: number, listener: () => void): () => void {
    if (this.buffered <= threshold || this.closed) {
      listener()
      return () => {}
    }
    const entry = { threshold, listener }
    this.listeners.add(entry)
    return () => {
      this.listeners.delete(entry)
    }
  }

  onMessage(handler: (message: Uint8Array) => void): void {
    this.handler = handler
  }

  drain(maxBytes = Number.POSITIVE_INFINITY): number {
    let delivered = 0
    while (this.outbox.length > 0) {
      const next = this.outbox[0]
      if (!next || delivered + next.length > maxBytes) break
      this.outbox.shift()
      this.buffered -= next.length
      delivered += next.length
      this.peer?.receive(next)
    }
    this.fireDrainListeners()
    return delivered
  }

  close(): void {
    this.closed = true
    this.fireDrainListeners()
  }

  private receive(message: Uint8Array): void {
    if (!this.handler) throw new Error('memory channel end has no message handler')
    this.handler(message)
  }

  private fireDrainListeners(): void {
    for (const entry of [...this.listeners]) {
      if (this.closed || this.buffered <= entry.threshold) {
        this.listeners.delete(entry)
        entry.listener()
      }
    }
  }
}

/**
 * Two connected in-memory ByteChannels: what one end sends arrives at the other's handler,
 * in order. Bytes count in the sender's `bufferedAmount` until delivered, so backpressure can
 * be exercised by draining by hand.
 */
export function memoryChannelPair(
  options: MemoryChannelOptions = {},
): [MemoryChannelEnd, MemoryChannelEnd] {
  const maxMessageSize = options.maxMessageSize ?? 256 * 1024
  const delivery = options.delivery ?? 'microtask'
  const a = new MemoryEnd(maxMessageSize, delivery)
  const b = new MemoryEnd(maxMessageSize, delivery)
  a.peer = b
  b.peer = a
  return [a, b]
}
