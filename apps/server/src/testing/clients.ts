import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  PROTOCOL_VERSION,
  type ServerPush,
  type ServerReply,
  SIGNALING_EVENT,
} from '@cohort/protocol'
import { io, type Socket } from 'socket.io-client'
import { type RunningServer, type ServerOptions, startServer } from '../server.ts'

/** The welcome reply. */
export type Welcome = Extract<ServerReply, { type: 'welcome' }>
/** The reply to create-room. */
export type Created = Extract<ServerReply, { type: 'room-created' }>
/** A plan push. */
export type PlanPush = Extract<ServerPush, { type: 'plan' }>

/** A raw socket.io client that records every push, like a device (or an attacker) would. */
export class TestClient {
  readonly pushes: ServerPush[] = []
  readonly #waiters: {
    predicate: (push: ServerPush) => boolean
    resolve: (p: ServerPush) => void
  }[] = []
  readonly #watchers = new Set<(push: ServerPush) => void>()
  #seen = 0

  private constructor(readonly socket: Socket) {
    socket.on(SIGNALING_EVENT, (push: ServerPush) => {
      this.pushes.push(push)
      for (const watch of [...this.#watchers]) watch(push)
      const index = this.#waiters.findIndex((w) => w.predicate(push))
      const waiter = index >= 0 ? this.#waiters.splice(index, 1)[0] : undefined
      if (waiter) {
        this.#seen = this.pushes.length
        waiter.resolve(push)
      }
    })
  }

  /** Connects over WebSocket only, without reconnection, so a test sees every drop. */
  static connect(url: string): Promise<TestClient> {
    const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false })
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(new TestClient(socket)))
      socket.once('connect_error', reject)
    })
  }

  /** Sends anything and waits for the server's acknowledgement. */
  request(message: unknown): Promise<ServerReply> {
    return this.socket.timeout(5_000).emitWithAck(SIGNALING_EVENT, message) as Promise<ServerReply>
  }

  /** Sends without asking for an acknowledgement. */
  send(message: unknown): void {
    this.socket.emit(SIGNALING_EVENT, message)
  }

  /** The next push (after those already awaited) that matches. */
  next(predicate: (push: ServerPush) => boolean = () => true): Promise<ServerPush> {
    const found = this.pushes.slice(this.#seen).find(predicate)
    if (found) {
      this.#seen = this.pushes.indexOf(found) + 1
      return Promise.resolve(found)
    }
    return new Promise((resolve) => this.#waiters.push({ predicate, resolve }))
  }

  /** The next push of this type (after those already awaited). */
  nextOfType<T extends ServerPush['type']>(type: T): Promise<Extract<ServerPush, { type: T }>> {
    return this.next((p) => p.type === type) as Promise<Extract<ServerPush, { type: T }>>
  }

  /** The first push ever received that matches, or the next one; ignores what `next` consumed. */
  waitFor(predicate: (push: ServerPush) => boolean): Promise<ServerPush> {
    const found = this.pushes.find(predicate)
    if (found) return Promise.resolve(found)
    return new Promise((resolve) => {
      const watch = (push: ServerPush) => {
        if (!predicate(push)) return
        this.#watchers.delete(watch)
        resolve(push)
      }
      this.#watchers.add(watch)
    })
  }

  /** The first plan with a version above `version` that also satisfies `predicate`. */
  planAfter(
    version: number,
    predicate: (push: PlanPush) => boolean = () => true,
  ): Promise<PlanPush> {
    return this.waitFor(
      (p) => p.type === 'plan' && p.plan.version > version && predicate(p),
    ) as Promise<PlanPush>
  }

  /** The newest plan received so far, if any. */
  latestPlan(): PlanPush | undefined {
    return this.pushes.findLast((p): p is PlanPush => p.type === 'plan')
  }

  /** Closes the socket. */
  close(): void {
    this.socket.close()
  }
}

/** Creates a room and checks the reply. */
export async function createRoom(c: TestClient): Promise<Created> {
  const reply = await c.request({ type: 'create-room', protocolVersion: PROTOCOL_VERSION })
  if (reply.type !== 'room-created') {
    throw new Error(`expected room-created, got ${JSON.stringify(reply)}`)
  }
  return reply
}

/** Joins `room` as a device unless `extra` says otherwise; throws unless welcomed. */
export async function joinRoom(
  c: TestClient,
  room: string,
  extra: Record<string, unknown> = {},
): Promise<Welcome> {
  const reply = await c.request({
    type: 'join-room',
    protocolVersion: PROTOCOL_VERSION,
    room,
    role: 'device',
    label: 'test device',
    ...extra,
  })
  if (reply.type !== 'welcome') throw new Error(`expected a welcome, got ${JSON.stringify(reply)}`)
  return reply
}

/** A joined member: its client and its welcome. */
export interface JoinedMember {
  readonly client: TestClient
  readonly welcome: Welcome
}

/** Servers on port 0 and their clients, all closed by `close()` (call it in afterEach). */
export class ServerHarness {
  readonly logs: string[] = []
  readonly stateDir = mkdtempSync(join(tmpdir(), 'cohort-server-test-'))
  readonly #servers: RunningServer[] = []
  readonly #clients: TestClient[] = []

  /** Starts a server on 127.0.0.1, port 0, logging into `logs`. */
  async start(options: ServerOptions = {}): Promise<RunningServer> {
    const server = await startServer({
      port: 0,
      host: '127.0.0.1',
      staticDir: this.stateDir,
      stateDir: this.stateDir,
      log: (line) => this.logs.push(line),
      ...options,
    })
    this.#servers.push(server)
    return server
  }

  /** A connected client, closed with the harness. */
  async client(server: RunningServer): Promise<TestClient> {
    const c = await TestClient.connect(server.url)
    this.#clients.push(c)
    return c
  }

  /** A new device that joined `room`. */
  async device(server: RunningServer, room: string, label = 'test device'): Promise<JoinedMember> {
    const c = await this.client(server)
    return { client: c, welcome: await joinRoom(c, room, { label }) }
  }

  /** A room with a joined host and `devices` joined devices. */
  async room(server: RunningServer, devices: number) {
    const host = await this.client(server)
    const created = await createRoom(host)
    const hostWelcome = await joinRoom(host, created.room, {
      role: 'host',
      hostKey: created.hostKey,
    })
    const members: JoinedMember[] = []
    for (let i = 0; i < devices; i++) {
      members.push(await this.device(server, created.room, `device ${i}`))
    }
    return { code: created.room, hostKey: created.hostKey, host, hostWelcome, members }
  }

  /** Closes every client and server and removes the state dir. */
  async close(): Promise<void> {
    for (const c of this.#clients) c.close()
    await Promise.all(this.#servers.map((server) => server.close()))
    rmSync(this.stateDir, { recursive: true, force: true })
  }
}
