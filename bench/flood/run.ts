/**
 * `npm run bench:flood`: what a flood of join guesses from one address costs the other rooms.
 * A room on 127.0.0.1 (a host and devices, socket.io clients in this process) sends signals and
 * times their acknowledgements, first alone (the baseline), then while a flooder process on
 * another loopback address (127.0.0.9: the server sees another client) opens sockets and guesses
 * room codes as fast as they go. Measured against the server with its default limits and with
 * the per-address and server-wide limits turned off (what the server did before them). Writes
 * bench/results/flood-<date>.md.
 */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { PROTOCOL_VERSION, type ServerReply, SIGNALING_EVENT } from '@cohort/protocol'
import { io, type Socket } from 'socket.io-client'
import { startCohortServer } from '../../e2e/harness.ts'
import { type LatencySummary, summarize } from '../stats.ts'

const { values: args } = parseArgs({
  options: {
    sockets: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '15' },
    devices: { type: 'string', default: '5' },
    out: { type: 'string', default: 'bench/results' },
  },
})
const SOCKETS = Number(args.sockets)
const SECONDS = Number(args.seconds)
const DEVICES = Number(args.devices)
/** The victim room's signals: one every 20 ms, each waiting for its ack. */
const SIGNAL_INTERVAL_MS = 20
const FLOOD_ADDRESS = '127.0.0.9'

const log = (message: string) =>
  console.error(`[flood ${new Date().toISOString().slice(11, 19)}] ${message}`)

/** The limits that did not exist before: all open, so only the per-socket budget remains. */
const OPEN = { burst: 1e9, perSecond: 1e9 }
const LIMITS_OFF = JSON.stringify({
  perAddress: OPEN,
  strangers: OPEN,
  refusedJoins: OPEN,
  connects: OPEN,
  socketsPerAddress: 1e6,
  dropsBeforeDisconnect: 1e9,
})

type Client = Socket

function connect(url: string): Promise<Client> {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false })
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket))
    socket.once('connect_error', reject)
  })
}

async function request(socket: Client, message: unknown): Promise<ServerReply> {
  return (await socket.timeout(10_000).emitWithAck(SIGNALING_EVENT, message)) as ServerReply
}

/** A room of a host and DEVICES devices; returns the host and one device id to signal. */
async function victimRoom(url: string) {
  const host = await connect(url)
  const created = await request(host, { type: 'create-room', protocolVersion: PROTOCOL_VERSION })
  if (created.type !== 'room-created') throw new Error(`create failed: ${JSON.stringify(created)}`)
  const join = (socket: Client, extra: object) =>
    request(socket, {
      type: 'join-room',
      protocolVersion: PROTOCOL_VERSION,
      room: created.room,
      label: 'bench',
      ...extra,
    })
  await join(host, { role: 'host', hostKey: created.hostKey })
  const devices: Client[] = []
  let target = ''
  for (let i = 0; i < DEVICES; i++) {
    const device = await connect(url)
    const welcome = await join(device, { role: 'device' })
    if (welcome.type !== 'welcome') throw new Error(`join failed: ${JSON.stringify(welcome)}`)
    target = welcome.deviceId
    devices.push(device)
  }
  return {
    host,
    devices,
    target,
    close: () => {
      for (const socket of [host, ...devices]) socket.close()
    },
  }
}

/** Ack latencies of the victim's signals for `ms`, one signal at a time. */
async function measureAcks(
  host: Client,
  to: string,
  ms: number,
): Promise<{ summary: LatencySummary; failed: number }> {
  const latencies: number[] = []
  let failed = 0
  const until = performance.now() + ms
  let n = 0
  while (performance.now() < until) {
    const started = performance.now()
    try {
      const reply = await request(host, {
        type: 'signal',
        to,
        linkId: `bench${n++}`,
        data: {
          type: 'candidate',
          candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' },
        },
      })
      if (reply.type === 'ok') latencies.push(performance.now() - started)
      else failed++
    } catch {
      failed++
    }
    const wait = SIGNAL_INTERVAL_MS - (performance.now() - started)
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  }
  return { summary: summarize(latencies), failed }
}

function runFlooder(url: string): Promise<Record<string, unknown>> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'flooder.ts'),
      url,
      String(SOCKETS),
      String(SECONDS),
      FLOOD_ADDRESS,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`flooder exited with ${code}`))
      else resolve(JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>)
    })
  })
}

interface ScenarioResult {
  readonly name: string
  readonly baseline: { summary: LatencySummary; failed: number }
  readonly flooded: { summary: LatencySummary; failed: number }
  readonly flooder: Record<string, unknown>
  readonly serverLog: string[]
}

async function scenario(name: string, serverArgs: readonly string[]): Promise<ScenarioResult> {
  log(`${name}: starting the server`)
  const server = await startCohortServer({ args: serverArgs })
  try {
    const room = await victimRoom(server.url)
    // Warm up: the first acks pay for JIT and connection setup.
    await measureAcks(room.host, room.target, 1_000)
    log(`${name}: baseline`)
    const baseline = await measureAcks(room.host, room.target, SECONDS * 1000)
    log(`${name}: flood from ${FLOOD_ADDRESS}, ${SOCKETS} sockets`)
    const flooding = runFlooder(server.url)
    const flooded = await measureAcks(room.host, room.target, SECONDS * 1000)
    const flooder = await flooding
    room.close()
    return {
      name,
      baseline,
      flooded,
      flooder,
      serverLog: server.log
        .filter((line) => /refused|cut off|rate-limited/.test(line))
        .slice(0, 12),
    }
  } finally {
    await server.stop()
  }
}

const fmt = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(2) : '–')

function report(results: readonly ScenarioResult[]): string {
  const rows = results.map((r) => {
    const ratio = r.flooded.summary.p95Ms / r.baseline.summary.p95Ms
    return `| ${r.name} | ${r.baseline.summary.count} | ${fmt(r.baseline.summary.p50Ms)} | ${fmt(r.baseline.summary.p95Ms)} | ${r.flooded.summary.count} | ${fmt(r.flooded.summary.p50Ms)} | ${fmt(r.flooded.summary.p95Ms)} | ${ratio.toFixed(1)}× | ${r.baseline.failed + r.flooded.failed} |`
  })
  const flooders = results.map((r) => `- **${r.name}**: \`${JSON.stringify(r.flooder)}\``)
  return `# Join flood: what one source costs the other rooms (${new Date().toISOString().slice(0, 10)})

\`npm run bench:flood\` on this machine (2 shared cores, loopback only). A victim room (a host and
${DEVICES} devices, socket.io clients in the benchmark process, on 127.0.0.1) sends one signal every
${SIGNAL_INTERVAL_MS} ms and times its acknowledgement: ${SECONDS} s alone (baseline), then ${SECONDS} s while a
flooder process on 127.0.0.9 (another address to the server) runs ${SOCKETS} sockets that send
join-room guesses as fast as their connections take them and reconnect whenever they are cut off.
The coordinator, the flooder and the benchmark are three processes on the same two cores, so the
flood also competes for CPU: a real attacker's packets cost the server only its share of parsing.

"limits off" is the same server with the per-address, server-wide and connection limits opened
(\`--limits\`), which is what it enforced before them: only the per-socket budget.

| server | baseline acks | p50 ms | p95 ms | acks under flood | p50 ms | p95 ms | p95 ratio | failed |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

What the flooder sent and got back:
${flooders.join('\n')}

What the server logged of it (first lines):
${results.map((r) => `- **${r.name}**:\n${r.serverLog.map((line) => `  - \`${line.slice(0, 160)}\``).join('\n')}`).join('\n')}
`
}

const results = [
  await scenario('default limits', []),
  await scenario('limits off', ['--limits', LIMITS_OFF]),
]
const markdown = report(results)
const file = join(args.out ?? 'bench/results', `flood-${new Date().toISOString().slice(0, 10)}.md`)
writeFileSync(file, markdown)
console.log(markdown)
log(`wrote ${file}`)
