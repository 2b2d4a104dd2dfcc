import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PROTOCOL_VERSION, type ServerReply, SIGNALING_EVENT } from '@cohort/protocol'
import { io } from 'socket.io-client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url))
// `--import tsx` resolves from the working directory: run where node_modules is.
const REPO = fileURLToPath(new URL('../../../', import.meta.url))

const ICE_SERVERS = [{ urls: ['stun:stun.example.org:3478'] }]

let dir: string
let child: ChildProcess | undefined

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cohort-main-'))
  mkdirSync(join(dir, 'web'))
  writeFileSync(join(dir, 'web', 'index.html'), '<!doctype html>')
})

afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  child = undefined
  rmSync(dir, { recursive: true, force: true })
})

/** Runs the CLI; `output` grows as it prints. */
function run(args: string[]) {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: REPO,
    env: { ...process.env, COHORT_SECRET: '', COHORT_ICE_SERVERS: '' },
  })
  child = proc
  let output = ''
  proc.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  proc.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return { proc, output: () => output, exited }
}

/** The URL from the machine-readable line, or the output if the process exits first. */
function listening(cli: ReturnType<typeof run>): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    cli.proc.stdout?.on('data', () => {
      const match = /^COHORT_LISTENING (\S+)$/m.exec(cli.output())
      if (match) resolve(match[1]!)
    })
    cli.exited.then(() => reject(new Error(`exited early:\n${cli.output()}`)), reject)
  })
}

describe('cli', () => {
  it('prints where it listens, serves, and closes cleanly on SIGTERM', async () => {
    const cli = run([
      '--port',
      '0',
      '--static',
      join(dir, 'web'),
      '--state-dir',
      join(dir, 'state'),
      '--ice',
      JSON.stringify(ICE_SERVERS),
    ])
    const url = await listening(cli)
    expect(cli.output()).toMatch(/Cohort is running/)
    expect(cli.output()).toMatch(/Local: +http:\/\/localhost:\d+\//)
    const health = await fetch(`${url}/healthz`)
    expect(await health.json()).toMatchObject({ ok: true })
    expect((await fetch(`${url}/`)).status).toBe(200)

    // The ICE servers from the command line reach devices in their welcome.
    const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false })
    try {
      const ask = (message: unknown) =>
        socket.timeout(5_000).emitWithAck(SIGNALING_EVENT, message) as Promise<ServerReply>
      const created = await ask({ type: 'create-room', protocolVersion: PROTOCOL_VERSION })
      if (created.type !== 'room-created') throw new Error(JSON.stringify(created))
      const welcome = await ask({
        type: 'join-room',
        protocolVersion: PROTOCOL_VERSION,
        room: created.room,
        role: 'device',
        label: 'cli test',
      })
      expect(welcome).toMatchObject({ type: 'welcome', iceServers: ICE_SERVERS })
    } finally {
      socket.close()
    }

    cli.proc.kill('SIGTERM')
    const [code] = await cli.exited
    expect(code).toBe(0)
  })

  it('serves HTTPS with a self-signed certificate', async () => {
    const cli = run(['--port', '0', '--host', '127.0.0.1', '--https', '--state-dir', dir])
    const url = await listening(cli)
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(cli.output()).toMatch(/self-signed/)
    cli.proc.kill('SIGTERM')
    expect((await cli.exited)[0]).toBe(0)
  })

  it('prints help', async () => {
    const cli = run(['--help'])
    const [code] = await cli.exited
    expect(code).toBe(0)
    for (const flag of [
      '--port',
      '--host',
      '--dev',
      '--static',
      '--state-dir',
      '--ice',
      '--allow-origin',
      '--build',
    ]) {
      expect(cli.output()).toContain(flag)
    }
  })

  it('rejects bad options with a message and exit code 1', async () => {
    const cli = run(['--port', 'eighty', '--ice', '[{"urls": 5}]'])
    const [code] = await cli.exited
    expect(code).toBe(1)
    expect(cli.output()).toMatch(/--port must be an integer/)
  })

  it('refuses an unknown option, naming the one meant, before it builds or listens', async () => {
    const cli = run(['--build', '--prot', '9000', '--static', join(dir, 'web')])
    const [code] = await cli.exited
    expect(code).toBe(1)
    expect(cli.output().trim()).toBe(
      'cohort: unknown option --prot (did you mean --port?). See --help.',
    )
  })

  it('rejects an --allow-origin that is not an origin before it starts', async () => {
    const cli = run([
      '--allow-origin',
      'https://a.example,https://b.example/app',
      '--https',
      '--state-dir',
      dir,
    ])
    const [code] = await cli.exited
    expect(code).toBe(1)
    expect(cli.output()).toMatch(/--allow-origin: "https:\/\/b\.example\/app" is not an origin/)
    expect(cli.output()).not.toMatch(/self-signed/)
  })
})
