import { resolve } from 'node:path'
import { IceServerSchema } from '@cohort/protocol'
import { cac } from 'cac'
import QRCode from 'qrcode'
import { listeningUrls } from './lan-urls.ts'
import { type RunningServer, startServer } from './server.ts'

/** The line tests and benchmarks wait for when they spawn the server with `--port 0`. */
export const LISTENING_MARKER = 'COHORT_LISTENING'

const cli = cac('cohort')
cli
  .usage('[options]\n\n  Serves Cohort and coordinates its rooms on one port.')
  .option('--port <port>', 'Port to listen on (0 picks a free one)', { default: 8080 })
  .option('--host <host>', 'Interface to listen on', { default: '0.0.0.0' })
  .option('--dev', 'Serve apps/web through Vite with hot reload instead of the built app')
  .option('--static <dir>', 'Built web app to serve (default: <repo>/dist/web)')
  .option('--state-dir <dir>', 'Where the token secret is kept (default: <repo>/.cohort)')
  .option('--ice <json>', 'ICE servers as a JSON array (or env COHORT_ICE_SERVERS)')
  .option('--max-room-size <n>', 'Members per room', { default: 64 })
  .help()

const { options } = cli.parse()
if (!options.help) {
  try {
    await main(options)
  } catch (error) {
    console.error(`cohort: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 1
  }
}

async function main(options: Record<string, unknown>): Promise<void> {
  const port = integerOption(options.port, '--port', 0, 65_535)
  const host = String(options.host)
  let server: RunningServer
  try {
    server = await startServer({
      port,
      host,
      dev: options.dev === true,
      staticDir: pathOption(options.static, '--static'),
      stateDir: pathOption(options.stateDir, '--state-dir'),
      secret: process.env.COHORT_SECRET,
      iceServers: iceServersOption(options.ice ?? process.env.COHORT_ICE_SERVERS),
      maxRoomSize: integerOption(options.maxRoomSize, '--max-room-size', 1, 1024),
    })
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'EADDRINUSE') {
      throw new Error(`port ${port} is in use on ${host}; pass --port <another> (or 0 for any)`)
    }
    throw error
  }
  await printBanner(host, server.port, server.url, options.dev === true)

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) {
      // A second Ctrl-C means now.
      process.exit(130)
    }
    stopping = true
    console.log(`\n[cohort] ${signal}: closing`)
    server.close().then(
      () => {
        process.exitCode ??= 0
      },
      (error: unknown) => {
        console.error(`cohort: failed to close cleanly: ${String(error)}`)
        process.exitCode = 1
      },
    )
  }
  // `on`, not `once`: libraries using signal-exit (loaded by Vite on demand) re-raise a signal
  // that no other listener is left to handle, which would kill us before we have closed.
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

async function printBanner(host: string, port: number, url: string, dev: boolean): Promise<void> {
  const urls = listeningUrls(host, port)
  const lines = [
    '',
    `  Cohort is running${dev ? ' (dev: Vite with hot reload)' : ''}`,
    '',
    `  Local:    ${urls.local}`,
    ...urls.lan.map((lan) => `  Network:  ${lan}`),
  ]
  const first = urls.lan[0]
  if (first) {
    lines.push('', `  Scan to open ${first} on a phone on the same network:`, '')
    lines.push(await QRCode.toString(first, { type: 'terminal', small: true }))
  } else {
    lines.push(
      '',
      '  No LAN address: only this machine can join (use --host 0.0.0.0 on a network).',
      '',
    )
  }
  console.log(lines.join('\n'))
  console.log(`${LISTENING_MARKER} ${url}`)
}

function integerOption(value: unknown, name: string, min: number, max: number): number {
  const number = typeof value === 'number' ? value : Number(value)
  if (!Number.isInteger(number) || number < min || number > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`)
  }
  return number
}

/** Paths given on the command line are relative to where the command runs. */
function pathOption(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '') throw new Error(`${name} needs a directory`)
  return resolve(process.cwd(), value)
}

function iceServersOption(value: unknown) {
  if (value === undefined || value === '') return undefined
  let json: unknown
  try {
    json = JSON.parse(String(value))
  } catch {
    throw new Error(
      '--ice / COHORT_ICE_SERVERS must be JSON, e.g. [{"urls":"stun:stun.example.org"}]',
    )
  }
  const parsed = IceServerSchema.array().max(16).safeParse(json)
  if (!parsed.success) {
    throw new Error(
      `--ice / COHORT_ICE_SERVERS is not a list of ICE servers: ${parsed.error.message}`,
    )
  }
  return parsed.data
}
