import { Socket as EngineSocket } from 'engine.io-client'

/**
 * An engine.io connection that speaks socket.io packets by hand, as an attacker's script would:
 * `send('2[123]')` is the event packet a well-behaved client could never produce. It records the
 * socket.io packets it receives; `roundTrip` proves that everything sent before was handled.
 */
export class RawClient {
  readonly received: string[] = []
  #closed = false
  #nextAck = 1_000_000
  readonly #waiters = new Map<number, (packet: string) => void>()

  private constructor(private readonly socket: EngineSocket) {
    socket.on('message', (data) => {
      const packet = typeof data === 'string' ? data : '<binary>'
      this.received.push(packet)
      const ack = /^3(\d+)/.exec(packet)
      if (ack?.[1]) this.#waiters.get(Number(ack[1]))?.(packet)
    })
    socket.on('close', () => {
      this.#closed = true
      for (const resolve of this.#waiters.values()) resolve('<closed>')
      this.#waiters.clear()
    })
  }

  /** Opens an engine.io session and joins socket.io's main namespace. */
  static async connect(url: string, extraHeaders: Record<string, string> = {}): Promise<RawClient> {
    const socket = new EngineSocket(url, {
      transports: ['websocket'],
      path: '/socket.io/',
      extraHeaders,
    })
    const client = new RawClient(socket)
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', (error) =>
        reject(error instanceof Error ? error : new Error(String(error))),
      )
    })
    socket.send('0')
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (client.received.some((packet) => packet.startsWith('0'))) resolve()
        else if (client.#closed) reject(new Error('closed before the namespace was joined'))
        else socket.once('message', check)
      }
      check()
    })
    return client
  }

  /** Whether the server closed this connection. */
  get closed(): boolean {
    return this.#closed
  }

  /** Sends one socket.io packet (a string without engine.io's leading 4, or bytes). */
  send(packet: string | Uint8Array): void {
    if (!this.#closed) this.socket.send(packet)
  }

  /** Sends a valid message with an ack and waits for its answer: every packet before it was handled. */
  roundTrip(message: unknown = { type: 'leave' }): Promise<string> {
    if (this.#closed) return Promise.resolve('<closed>')
    const id = this.#nextAck++
    return new Promise((resolve) => {
      this.#waiters.set(id, resolve)
      this.send(`2${id}${JSON.stringify(['message', message])}`)
    })
  }

  /** Closes the connection. */
  close(): void {
    this.socket.close()
  }
}
