import { resolve } from 'node:path'
import { refuseUnknownOptions } from '@cohort/cli'
import { IceServerSchema } from '@cohort/protocol'
import { cac } from 'cac'
import { parseAllowedOrigins } from './allowed-origins.ts'
import { banner } from './banner.ts'
import { ClientLimitsSchema, type LimitOverrides } from './client-limits.ts'
import { isWildcardHost, lanAddresses } from './lan-urls.ts'
import { tasksIn } from './manifest-catalog.ts'
import { DEFAULT_ROOM_LIMITS } from './rooms.ts'
import { buildWebApp, REPO_ROOT, type RunningServer, startServer } from './server.ts'
import { loadOrCreateSelfSigned, readCredentials, type TlsCredentials } from './tls.ts'

const cli = cac('cohort')
cli
  .usage('[options]\n\n  Serves Cohort and coordinates its rooms on one port.')
  .option('--port <port>', 'Port to listen on (0 picks a free one)', { default: 8080 })
  .option('--host <host>', 'Interface to listen on', { default: '0.0.0.0' })
  .option('--dev', 'Serve apps/web through Vite with hot reload instead of the built app')
  .option('--build', 'Build the web app first (npm start does)')
  .option('--static <dir>', 'Built web app to serve (default: <repo>/dist/web)')
  .option(
    '--state-dir <dir>',
    'Where the token secret and certificate are kept (default: <repo>/.cohort)',
  )
  .option('--https', 'Serve HTTPS with a self-signed certificate kept in the state dir')
  .option('--cert <file>', 'HTTPS with this PEM certificate (needs --key)')
  .option('--key <file>', 'Private key of --cert (PEM)')
  .option(
    '--models <dir>',
    'Your own models: a folder laid out like public/ (check it with npm run check-models -- <dir>)',
  )
  .option('--ice <json>', 'ICE servers as a JSON array (or env COHORT_ICE_SERVERS)')
  .option('--max-room-size <n>', 'Members per room, hosts included', {
    default: DEFAULT_ROOM_LIMITS.maxMembers,
  })
  .option(
    '--seats-per-address <n>',
    'Seats one network address may take in a room (raise it when a class shares one NAT address)',
  )
  .option(
    '--limits <json>',
    'Client limits to change, as JSON (keys of ClientLimits, see README "Limits")',
  )
  .option(
    '--allow-origin <origin>',
    'Let pages from this origin (e.g. https://example.org:8443) open sockets too; repeat it or separate with commas',
  )
  .example('npm start -- --https            # phones on the LAN get a secure context')
  .example('npm start -- --models ~/my-models   # then open the dashboard with ?task=<your task>')
  .example('node --import tsx apps/server/src/main.ts --port 0   # prints COHORT_LISTENING <url>')
  .help()

const { options } = cli.parse()
if (!options.help) {
  try {
    refuseUnknownOptions(cli, options)
    await main(options)
  } catch (error) {
    console.error(`cohort: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 1
  }
}

async function main(options: Record<string, unknown>): Promise<void> {
  const port = integerOption(options.port, '--port', 0, 65_535)
  const host = options.host
  if (typeof host !== 'string' || host === '') throw new Error('--host needs an address')
  const stateDir = pathOption(options.stateDir, '--state-dir') ?? resolve(REPO_ROOT, '.cohort')
  const allowedOrigins = allowedOriginsOption(options.allowOrigin)
  const tls = tlsOption(options, host, stateDir)
  if (options.build === true) await buildWebApp()
  let server: RunningServer
  try {
    server = await startServer({
      port,
      host,
      dev: options.dev === true,
      staticDir: pathOption(options.static, '--static'),
      ownModelsDir: ownModelsOption(options.models),
      stateDir,
      secret: process.env.COHORT_SECRET,
      tls: tls?.credentials,
      iceServers: iceServersOption(options.ice ?? process.env.COHORT_ICE_SERVERS),
      maxRoomSize: integerOption(options.maxRoomSize, '--max-room-size', 1, 1024),
      allowedOrigins,
      limits: {
        ...limitsOption(options.limits),
        ...(options.seatsPerAddress === undefined
          ? {}
          : {
              seatsPerAddress: integerOption(
                options.seatsPerAddress,
                '--seats-per-address',
                1,
                1024,
              ),
            }),
      },
    })
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'EADDRINUSE') {
      throw new Error(`port ${port} is in use on ${host}; pass --port <another> (or 0 for any)`)
    }
    throw error
  }
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
  // Printed last: whoever waits for the marker may signal us at once.
  console.log(
    await banner({
      host,
      port: server.port,
      protocol: server.protocol,
      url: server.url,
      dev: options.dev === true,
      selfSigned: tls?.selfSigned ?? false,
    }),
  )
}

function tlsOption(
  options: Record<string, unknown>,
  host: string,
  stateDir: string,
): { credentials: TlsCredentials; selfSigned: boolean } | undefined {
  const cert = pathOption(options.cert, '--cert')
  const key = pathOption(options.key, '--key')
  if (cert !== undefined || key !== undefined) {
    if (cert === undefined || key === undefined) throw new Error('--cert and --key go together')
    return { credentials: readCredentials(cert, key), selfSigned: false }
  }
  if (options.https !== true) return undefined
  const addresses = isWildcardHost(host) ? lanAddresses() : [host]
  const generated = loadOrCreateSelfSigned(stateDir, addresses)
  if (generated.created) console.log(`[cohort] created a self-signed certificate in ${stateDir}`)
  return { credentials: generated, selfSigned: true }
}

function limitsOption(value: unknown): LimitOverrides {
  if (value === undefined) return {}
  let json: unknown
  try {
    json = JSON.parse(String(value))
  } catch {
    throw new Error('--limits must be JSON, e.g. {"seatsPerAddress":64}')
  }
  const parsed = ClientLimitsSchema.partial().strict().safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new Error(`--limits: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'is invalid'}`)
  }
  return parsed.data
}

function allowedOriginsOption(value: unknown): string[] {
  try {
    return parseAllowedOrigins(value)
  } catch (error) {
    throw new Error(`--allow-origin: ${error instanceof Error ? error.message : String(error)}`)
  }
}

function integerOption(value: unknown, name: string, min: number, max: number): number {
  const number = typeof value === 'number' ? value : Number(value)
  if (!Number.isInteger(number) || number < min || number > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`)
  }
  return number
}

/** Paths given on the command line are relative to where the command runs. */
/** `--models <dir>`: a folder with at least one task, announced so a typo is seen at once. */
function ownModelsOption(value: unknown): string | undefined {
  const dir = pathOption(value, '--models')
  if (dir === undefined) return undefined
  const tasks = tasksIn(dir)
  if (tasks.length === 0)
    throw new Error(
      `--models ${dir} has no models/<task>/manifest.json (see README, "Your own models")`,
    )
  console.log(
    `[cohort] your models from ${dir}: ${tasks.map((task) => `?task=${task}`).join(', ')}`,
  )
  return dir
}

function pathOption(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '') throw new Error(`${name} needs a path`)
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
