/**
 * `npm run device -- <join URL>`: joins a room as a device from Node (no browser). See --help.
 * Prints `COHORT_DEVICE_READY <deviceId>` once per device when it serves, for scripts and tests.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { refuseUnknownOptions } from '@cohort/cli'
import { type JoinTarget, parseJoinUrl } from '@cohort/protocol'
import { MAX_SLOWDOWN } from '@cohort/runtime/node'
import { cac } from 'cac'
import { startGateway } from './gateway.ts'
import { type NodeDevice, type NodeDeviceOptions, startNodeDevice } from './node-device.ts'
import { startNodeRequester } from './node-requester.ts'

const REPO_ROOT = resolve(import.meta.dirname, '../../..')
const DEFAULT_TASK = 'fashion'
/** Devices of one process that load and join at once, after the first measured. */
const JOIN_BATCH = 4
const MAX_DEVICES = 256
/**
 * Devices per process: every wrtc peer connection holds dozens of sockets and threads, so a
 * process of 40 devices' links runs out of file descriptors; a fleet is split into processes.
 */
const DEFAULT_PER_PROCESS = 10

const cli = cac('cohort-device')
cli
  .usage(
    '<join URL> [options]\n\n  Joins a Cohort room as a device from Node: onnxruntime-node (or WASM, whichever measures\n  faster), WebRTC links to the room, planned like any device (Node devices get the cloud tier).',
  )
  .option('--devices <n>', 'Devices to run in this process, each with its own identity and links', {
    default: 1,
  })
  .option('--slowdown <factor>', 'Emulate a device this many times slower (runs are stretched)', {
    default: 1,
  })
  .option('--threads <n>', 'Threads of each device’s native engine', { default: 1 })
  .option(
    '--per-process <n>',
    'With --devices: at most this many devices per process (one WebRTC stack each)',
    {
      default: DEFAULT_PER_PROCESS,
    },
  )
  .option('--number-from <n>', 'The first device number in this process’s labels (for fleets)', {
    default: 1,
  })
  .option('--label <text>', 'Shown on the dashboard (default: "Node on <hostname>")')
  .option('--task <task>', 'The task to serve (default: the URL’s ?task=, else fashion)')
  .option('--requester', 'Join as a requester instead: send work to the room (with --http)')
  .option('--http <port>', 'With --requester: serve POST /infer on this port (0 picks one)')
  .option('--http-host <host>', 'Interface of the gateway', { default: '127.0.0.1' })
  .option('--cache-dir <dir>', 'Where verified models are kept (default: <repo>/.cohort/models)')
  .example('npm run device -- http://192.168.1.20:8080/r/7K3Q9M2XABCDE')
  .example('npm run device -- http://127.0.0.1:8080/r/7K3Q9M2XABCDE --devices 40')
  .example('npm run device -- http://127.0.0.1:8080/r/7K3Q9M2XABCDE --requester --http 8090')
  .example('NODE_EXTRA_CA_CERTS=.cohort/tls-cert.pem npm run device -- https://…/r/…   # --https')
  .help()

// Why a device process ended, in its own log: a fleet's process that ends unasked is a bug.
process.on('exit', (code) =>
  console.error(`cohort-device: process ${process.pid} exits (code ${code})`),
)

const { args, options } = cli.parse()
if (!options.help) {
  try {
    refuseUnknownOptions(cli, options)
    await main(args, options)
  } catch (error) {
    console.error(`cohort-device: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 1
  }
}

async function main(args: readonly string[], options: Record<string, unknown>): Promise<void> {
  const [joinUrl, ...extra] = args
  if (!joinUrl || extra.length > 0) throw new Error('give one join URL (see --help)')
  const target = parseJoinUrl(joinUrl)
  if (!target) throw new Error(`${joinUrl} is not a join URL (http(s)://host:port/r/<code>)`)
  const count = integerOption(options.devices, '--devices', 1, MAX_DEVICES)
  const slowdown = numberOption(options.slowdown, '--slowdown', 1, MAX_SLOWDOWN)
  const threads = integerOption(options.threads, '--threads', 1, 64)
  const task = typeof options.task === 'string' ? options.task : (target.task ?? DEFAULT_TASK)
  const label = typeof options.label === 'string' ? options.label : `Node on ${hostname()}`
  const cacheDir =
    typeof options.cacheDir === 'string'
      ? resolve(options.cacheDir)
      : resolve(REPO_ROOT, '.cohort/models')

  if (options.requester) {
    if (options.http === undefined) throw new Error('--requester needs --http <port>')
    await serveGateway({
      target,
      task,
      label: typeof options.label === 'string' ? options.label : `HTTP gateway on ${hostname()}`,
      cacheDir,
      threads,
      port: integerOption(options.http, '--http', 0, 65_535),
      host: String(options.httpHost),
    })
    return
  }

  const perProcess = integerOption(options.perProcess, '--per-process', 1, MAX_DEVICES)
  const numberFrom = integerOption(options.numberFrom, '--number-from', 1, MAX_DEVICES)
  if (count > perProcess) {
    // Every child gets these options as given; each its own share of the devices.
    const shared = [
      ...['--slowdown', String(slowdown), '--threads', String(threads)],
      ...['--task', task, '--label', label, '--cache-dir', cacheDir],
    ]
    await runFleet(joinUrl, count, perProcess, shared)
    return
  }

  const devices: NodeDevice[] = []
  const stop = async (signal: string) => {
    console.error(`cohort-device: ${signal}: leaving the room`)
    await Promise.allSettled(devices.map((device) => device.leave()))
    process.exit(0)
  }
  process.once('SIGINT', () => void stop('SIGINT'))
  process.once('SIGTERM', () => void stop('SIGTERM'))
  // A process of a fleet leaves with its parent, however the parent ended.
  process.once('disconnect', () => void stop('the fleet ended'))

  const rssBefore = process.memoryUsage().rss
  let measured: NodeDeviceOptions['measured']
  const start = async (i: number): Promise<void> => {
    const name = count === 1 && numberFrom === 1 ? label : `${label} #${numberFrom + i}`
    const device = startNodeDevice({
      origin: target.origin,
      room: target.room,
      task,
      label: name,
      cacheDir,
      threads,
      slowdown,
      log: (line) => console.error(`[${name}] ${line}`),
      // Machine-readable, like the ready line: what a fleet's devices hold, for tests and tools.
      onLoaded: (models) =>
        console.log(
          `COHORT_DEVICE_MODELS ${device.mesh.self?.deviceId ?? '?'} ${models.join(',')}`,
        ),
      ...(measured ? { measured } : {}),
    })
    devices.push(device)
    const ready = await device.ready
    measured ??= { ep: ready.ep, report: ready.report }
    console.log(`COHORT_DEVICE_READY ${device.mesh.self?.deviceId ?? '?'}`)
    console.error(
      `[${name}] serving ${task} on ${ready.ep.executionProvider}${slowdown > 1 ? ` (emulating ${slowdown}× slower)` : ''}`,
    )
  }
  // The first alone: it fills the model cache and measures the engine and the profile, which the
  // others reuse (one machine, one engine, one slowdown). Then a few at a time: they only load
  // and join, and the devices already serving keep their share of the event loop.
  await start(0)
  for (let first = 1; first < count; first += JOIN_BATCH) {
    const batch = Array.from({ length: Math.min(JOIN_BATCH, count - first) }, (_, j) => first + j)
    await Promise.all(batch.map(start))
  }
  const memory = process.memoryUsage()
  const perDevice = (memory.rss - rssBefore) / count
  console.error(
    `cohort-device: ${count} device${count === 1 ? '' : 's'} serving; RSS ${mib(memory.rss)} MiB, ${mib(perDevice)} MiB per device; Ctrl-C leaves the room`,
  )
}

/**
 * `count` devices in processes of at most `perProcess`, started one process after another (each
 * joins its devices one by one, so no two profiles share the cores). Their ready lines come out
 * here; Ctrl-C (or SIGTERM) makes every process leave the room.
 */
async function runFleet(
  joinUrl: string,
  count: number,
  perProcess: number,
  shared: readonly string[],
): Promise<void> {
  const children: ChildProcess[] = []
  const stop = (signal: NodeJS.Signals) => {
    console.error(`cohort-device: ${signal}: the fleet leaves the room`)
    for (const child of children) child.kill('SIGTERM')
    void Promise.all(children.map((child) => once(child, 'exit'))).then(() => process.exit(0))
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
  for (let first = 1; first <= count; first += perProcess) {
    const size = Math.min(perProcess, count - first + 1)
    const child = fork(
      import.meta.filename,
      [
        joinUrl,
        '--devices',
        String(size),
        '--per-process',
        String(size),
        '--number-from',
        String(first),
        ...shared,
      ],
      { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
    )
    children.push(child)
    let ready = 0
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        console.log(line)
        if (line.startsWith('COHORT_DEVICE_READY') && ++ready === size) resolve()
      })
      child.once('exit', (code) =>
        reject(
          new Error(`a fleet process exited (${code}) with ${ready} of ${size} devices ready`),
        ),
      )
    })
  }
  const rss = children.reduce((sum, child) => sum + rssOf(child.pid), 0)
  console.error(
    `cohort-device: ${count} devices serving in ${children.length} processes; RSS ${mib(rss)} MiB, ${mib(rss / count)} MiB per device; Ctrl-C leaves the room`,
  )
  for (const child of children) {
    child.once('exit', (code, signal) => {
      console.error(`cohort-device: a fleet process ended (${signal ?? code}); the others serve on`)
    })
  }
}

/** A process's resident memory in bytes (Linux /proc; 0 where there is none). */
function rssOf(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
  } catch {
    return 0
  }
}

async function serveGateway(settings: {
  target: JoinTarget
  task: string
  label: string
  cacheDir: string
  threads: number
  port: number
  host: string
}): Promise<void> {
  const log = (line: string) => console.error(`[${settings.label}] ${line}`)
  const member = await startNodeRequester({
    origin: settings.target.origin,
    room: settings.target.room,
    task: settings.task,
    label: settings.label,
    cacheDir: settings.cacheDir,
    threads: settings.threads,
    log,
  })
  const gateway = await startGateway({
    requester: member.requester,
    manifest: member.manifest,
    port: settings.port,
    host: settings.host,
  })
  const stop = (signal: string) => {
    log(`${signal}: leaving the room`)
    member.leave()
    gateway.server.close()
    process.exit(0)
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
  console.log(`COHORT_GATEWAY ${gateway.url}`)
  log(`POST ${gateway.url}/infer (JSON pixels, or a PNG/JPEG); waiting for the room's plan`)
  await member.whenPlanned()
  log('the room is planned: requests are answered')
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1)
}

function numberOption(value: unknown, name: string, min: number, max: number): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`${name} must be in [${min}, ${max}]`)
  return n
}

function integerOption(value: unknown, name: string, min: number, max: number): number {
  const n = numberOption(value, name, min, max)
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer`)
  return n
}
