/**
 * The ordered, reliable byte pipe the mesh needs from a WebRTC data channel. peer-link.ts
 * adapts simple-peer to it; unit tests of the pure logic above it use an in-memory pair.
 */
export interface ByteChannel {
  /** Largest message `send` accepts, in bytes (the negotiated SCTP max message size). */
  readonly maxMessageSize: number
  /** Bytes queued in the channel and not yet sent. */
  bufferedAmount(): number
  /** Queues one message. Throws when the channel is closed. */
  send(message: Uint8Array): void
  /** Calls `listener` once `bufferedAmount()` has dropped to `threshold` or below. */
  onceDrained(threshold: number, listener: () => void): () => void
}
