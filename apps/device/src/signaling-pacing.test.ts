import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRoom, Mesh, whenJoined } from '@cohort/mesh'
import type { DeviceId } from '@cohort/protocol'
import { type RunningServer, startServer } from '@cohort/server'
import { afterAll, beforeAll, expect, test } from 'vitest'

// A device that links to a whole tier at once sends its signals faster than the coordinator's
// per-socket budget allows. Dropped signals break links, broken links retry, and the retries
// flood more: the member paces itself by the budget its welcome tells instead.

const dir = mkdtempSync(join(tmpdir(), 'cohort-pacing-'))
const logs: string[] = []
let server: RunningServer
beforeAll(async () => {
  server = await startServer({
    port: 0,
    host: '127.0.0.1',
    staticDir: dir,
    stateDir: dir,
    log: (line) => logs.push(line),
    limits: { perSocket: { burst: 10, perSecond: 40 }, dropsBeforeDisconnect: 20 },
  })
})
afterAll(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

test('a member sends 60 messages through a budget of 10 at once and 40/s: none is dropped', async () => {
  const created = await createRoom(server.url)
  if (!created.ok) throw created.error
  const mesh = new Mesh({
    serverUrl: server.url,
    room: created.value.room,
    role: 'device',
    label: 'pacer',
  })
  const welcome = await whenJoined(mesh)
  expect(welcome.budget).toEqual({ burst: 10, perSecond: 40 })
  // Signals to a device that is not in the room: each is answered (refused), none is dropped.
  const stranger = 'zzzz99999' as DeviceId
  const replies = await Promise.all(
    Array.from({ length: 60 }, () =>
      mesh.tellCoordinator({
        type: 'signal',
        to: stranger,
        linkId: 'link0001',
        data: { type: 'offer', sdp: 'v=0' },
      }),
    ),
  )
  const codes = replies.map((reply) => (reply.ok ? 'ok' : reply.error.code))
  expect(codes.filter((code) => code === 'rate-limited' || code === 'timeout')).toEqual([])
  expect(new Set(codes).size).toBe(1)
  expect(mesh.signalingState).toBe('joined')
  expect(logs.filter((line) => line.includes('rate-limited'))).toEqual([])
  mesh.leave()
})
