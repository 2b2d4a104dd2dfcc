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

const NOT_BINARY = new Uint8Array(0)

/**
 * The bytes of a data channel message. Cohort sends only binary messages; a text (or Blob) one
 * becomes an empty frame, which the session counts as traffic on the link and as a bad frame,
 * rather than being dropped unseen: a peer flooding text was otherwise never heard, while its
 * heartbeats waited behind the text on the ordered channel.
 */
export function messageBytes(data: unknown): Uint8Array {
  return data instanceof ArrayBuffer ? new Uint8Array(data) : NOT_BINARY
}
