import {
  type ClientMessage,
  type ClientToServerEvents,
  CohortError,
  type ErrorCode,
  err,
  type HostKey,
  ok,
  PROTOCOL_VERSION,
  type Result,
  type ResumeToken,
  type Role,
  type RoomCode,
  type ServerPush,
  ServerPushSchema,
  type ServerReply,
  ServerReplySchema,
  type ServerToClientEvents,
  SIGNALING_EVENT,
  TokenBucket,
} from '@cohort/protocol'
import { io, type Socket } from 'socket.io-client'

/** How long the coordinator has to acknowledge a message. */
export const ACK_TIMEOUT_MS = 5_000

/**
 * The share of the coordinator's budget a member spends: the coordinator's bucket and ours start
 * at different moments, and the join itself cost a token.
 */
export const BUDGET_SHARE = 0.9

/** Pause before joining again after a transient failure. */
export const JOIN_RETRY_MS = 1_000

/** The coordinator's welcome, as a joined member sees it. */
export type Welcome = Extract<ServerReply, { type: 'welcome' }>

/** Where the signaling connection stands. */
export type SignalingState = 'connecting' | 'joined' | 'reconnecting' | 'failed' | 'closed'

/** Who joins which room. */
export interface JoinOptions {
  /** The coordinator's origin; '' or undefined means the page's own. */
  readonly serverUrl?: string
  readonly room: RoomCode
  readonly role: Role
  readonly label: string
  readonly resumeToken?: ResumeToken
  readonly hostKey?: HostKey
}

/** What the signaling client reports. */
export interface SignalingHandlers {
  /** Each successful (re)join; `resumed` says whether the old identity came back. */
  onWelcome(welcome: Welcome): void
  /** Each validated push from the coordinator. */
  onPush(push: ServerPush): void
  /** Each state change; `error` says why a join failed for good. */
  onState(state: SignalingState, error?: CohortError): void
}

type CohortSocket = Socket<ServerToClientEvents, ClientToServerEvents>

// A join that fails for one of these reasons will fail again: stop retrying.
const FATAL_JOIN_ERRORS: ReadonlySet<ErrorCode> = new Set([
  'room-not-found',
  'room-full',
  'room-locked',
  'room-ended',
  'banned',
  'forbidden',
  'version-mismatch',
  'bad-message',
])

function connect(serverUrl: string | undefined): CohortSocket {
  const options = {
    transports: ['websocket'],
    reconnectionDelay: 500,
    reconnectionDelayMax: 4_000,
    randomizationFactor: 0.5,
  }
  return serverUrl ? io(serverUrl, options) : io(options)
}

async function emitWithAck(
  socket: CohortSocket,
  message: ClientMessage,
): Promise<Result<ServerReply, CohortError>> {
  try {
    const reply: unknown = await socket
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck(SIGNALING_EVENT, message)
    const parsed = ServerReplySchema.safeParse(reply)
    if (!parsed.success)
      return err(new CohortError('bad-message', 'the coordinator sent a malformed reply'))
    if (parsed.data.type === 'error')
      return err(new CohortError(parsed.data.code, parsed.data.message))
    return ok(parsed.data)
  } catch {
    return err(
      new CohortError(
        'timeout',
        `the coordinator did not answer ${message.type} within ${ACK_TIMEOUT_MS} ms`,
      ),
    )
  }
}

/** Creates a room; the caller then joins it as host with the returned key. */
export async function createRoom(
  serverUrl?: string,
): Promise<Result<{ room: RoomCode; hostKey: HostKey }, CohortError>> {
  const socket = connect(serverUrl)
  try {
    const reply = await emitWithAck(socket, {
      type: 'create-room',
      protocolVersion: PROTOCOL_VERSION,
    })
    if (!reply.ok) return reply
    if (reply.value.type !== 'room-created')
      return err(new CohortError('bad-message', 'unexpected reply to create-room'))
    return ok({ room: reply.value.room, hostKey: reply.value.hostKey })
  } finally {
    socket.disconnect()
  }
}

/**
 * A member's connection to the coordinator. socket.io reconnects with backoff; every reconnect
 * joins again with the resume token, so the member keeps its device id across reloads and
 * server restarts.
 */
export class SignalingClient {
  private readonly socket: CohortSocket
  private resumeToken: ResumeToken | undefined
  private state: SignalingState = 'connecting'
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  /** Paces sends by the budget the welcome told; null before a welcome that told one. */
  private pace: TokenBucket | null = null
  /** Messages waiting for a token, in order (an offer goes before its candidates). */
  private readonly waiting: {
    readonly message: ClientMessage
    readonly resolve: (reply: Result<ServerReply, CohortError>) => void
  }[] = []
  private paceTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly options: JoinOptions,
    private readonly handlers: SignalingHandlers,
  ) {
    this.resumeToken = options.resumeToken
    this.socket = connect(options.serverUrl)
    this.socket.on('connect', () => {
      void this.join()
    })
    this.socket.on('disconnect', (reason) => {
      if (this.state === 'closed' || this.state === 'failed') return
      this.setState('reconnecting')
      // A disconnect the server chose is not retried by socket.io on its own.
      if (reason === 'io server disconnect') this.socket.connect()
    })
    this.socket.on(SIGNALING_EVENT, (push: unknown) => {
      const parsed = ServerPushSchema.safeParse(push)
      if (parsed.success) this.handlers.onPush(parsed.data)
      else console.warn('cohort: dropped a malformed push from the coordinator')
    })
  }

  /** The current state. */
  get current(): SignalingState {
    return this.state
  }

  /**
   * Sends a message that expects an acknowledgement, paced by the coordinator's budget: past it,
   * messages wait their turn (in order) instead of being dropped by the coordinator.
   */
  send(message: ClientMessage): Promise<Result<ServerReply, CohortError>> {
    if (this.state !== 'joined') return Promise.resolve(err(this.notJoined(message)))
    return new Promise((resolve) => {
      this.waiting.push({ message, resolve })
      this.drain()
    })
  }

  /** How many messages wait for the budget (diagnostics). */
  get queued(): number {
    return this.waiting.length
  }

  private drain(): void {
    if (this.paceTimer !== undefined) return
    while (this.waiting.length > 0) {
      if (this.state !== 'joined') {
        for (const { message, resolve } of this.waiting.splice(0))
          resolve(err(this.notJoined(message)))
        return
      }
      const wait = this.pace?.msUntilToken() ?? 0
      if (wait > 0) {
        this.paceTimer = setTimeout(() => {
          this.paceTimer = undefined
          this.drain()
        }, wait)
        return
      }
      this.pace?.take()
      const next = this.waiting.shift()
      if (next) void emitWithAck(this.socket, next.message).then(next.resolve)
    }
  }

  private notJoined(message: ClientMessage): CohortError {
    return new CohortError('not-connected', `cannot send ${message.type} while ${this.state}`)
  }

  /** Leaves the room and closes the connection. */
  close(): void {
    if (this.state === 'closed') return
    clearTimeout(this.retryTimer)
    if (this.socket.connected) this.socket.emit(SIGNALING_EVENT, { type: 'leave' })
    this.setState('closed')
    this.socket.disconnect()
  }

  private async join(): Promise<void> {
    if (!this.socket.connected) return
    const { room, role, label, hostKey } = this.options
    const reply = await emitWithAck(this.socket, {
      type: 'join-room',
      protocolVersion: PROTOCOL_VERSION,
      room,
      role,
      label,
      ...(this.resumeToken ? { resumeToken: this.resumeToken } : {}),
      ...(hostKey ? { hostKey } : {}),
    })
    if (this.state === 'closed') return
    if (!reply.ok) {
      if (FATAL_JOIN_ERRORS.has(reply.error.code)) {
        this.setState('failed', reply.error)
        this.socket.disconnect()
      } else {
        // Transient (timeout, rate limit): try again after a pause.
        this.setState('reconnecting', reply.error)
        this.retryTimer = setTimeout(() => {
          void this.join()
        }, JOIN_RETRY_MS)
      }
      return
    }
    if (reply.value.type !== 'welcome') return
    this.resumeToken = reply.value.resumeToken
    // A new socket: the coordinator gave it a fresh budget, less the join.
    const budget = reply.value.budget
    this.pace = budget
      ? new TokenBucket({
          burst: Math.max(1, Math.floor(budget.burst * BUDGET_SHARE) - 1),
          perSecond: budget.perSecond * BUDGET_SHARE,
        })
      : null
    this.setState('joined')
    this.handlers.onWelcome(reply.value)
  }

  private setState(state: SignalingState, error?: CohortError): void {
    this.state = state
    if (state !== 'joined') {
      // What waited for the old socket's budget cannot go on a new one: those senders retry.
      clearTimeout(this.paceTimer)
      this.paceTimer = undefined
      this.drain()
    }
    this.handlers.onState(state, error)
  }
}
