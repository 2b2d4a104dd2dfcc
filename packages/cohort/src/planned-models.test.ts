import type { DeviceId, DeviceModels } from '@cohort/protocol'
import { describe, expect, it } from 'vitest'
import { type ModelSessions, PlannedModels } from './planned-models.ts'
import { fakeManifest } from './testing/early-exit-fakes.ts'

const manifest = fakeManifest()
const ME = 'device0001' as DeviceId

/** Sessions that record what was loaded and freed; `gate` holds loads until opened. */
function recordingSessions() {
  const events: string[] = []
  const live = new Set<string>()
  let open: () => void = () => {}
  let gate: Promise<void> | null = null
  const sessions: ModelSessions & { events: string[]; live: Set<string> } = {
    events,
    live,
    async loadModel(id) {
      if (gate !== null) await gate
      events.push(`load ${id}`)
      live.add(id)
    },
    async unload(id) {
      events.push(`unload ${id}`)
      live.delete(id)
    },
  }
  return {
    sessions,
    /** Loads wait from now until `release()`. */
    hold() {
      gate = new Promise((resolve) => {
        open = resolve
      })
    },
    release() {
      gate = null
      open()
    },
  }
}

const wants = (assigned: string[], standby: string[] = []): DeviceModels => ({
  deviceId: ME,
  assigned,
  standby,
})

const models = (
  sessions: ModelSessions,
  options: { maxLoaded?: number; loaded?: string[]; changes?: string[][] } = {},
) =>
  new PlannedModels({
    manifest,
    sessions,
    bytes: async () => new ArrayBuffer(8),
    executionProvider: 'wasm',
    maxLoaded: options.maxLoaded ?? 2,
    loaded: options.loaded ?? [],
    changed: (loaded) => options.changes?.push([...loaded].sort()),
  })

describe('PlannedModels', () => {
  it('loads what the plan assigns, then standby, and frees the rest beyond its bound', async () => {
    const { sessions } = recordingSessions()
    const changes: string[][] = []
    const planned = models(sessions, {
      loaded: ['segment-1', 'segment-2', 'segment-3'],
      maxLoaded: 2,
      changes,
    })
    await planned.follow(wants(['segment-3'], ['segment-2']))
    expect([...planned.loaded()].sort()).toEqual(['segment-2', 'segment-3'])
    expect(sessions.events).toEqual(['unload segment-1'])
    expect(changes.at(-1)).toEqual(['segment-2', 'segment-3'])
  })

  it('always keeps the assigned models, even past its bound, and standby only as room allows', async () => {
    const { sessions } = recordingSessions()
    const planned = models(sessions, { maxLoaded: 1 })
    await planned.follow(wants(['segment-1', 'segment-2'], ['segment-3']))
    expect([...planned.loaded()].sort()).toEqual(['segment-1', 'segment-2'])
    expect(sessions.events).toEqual(['load segment-1', 'load segment-2'])
  })

  it('loads a model no plan named when a request asks for it, and never frees one in use', async () => {
    const { sessions } = recordingSessions()
    const planned = models(sessions, { maxLoaded: 1 })
    await planned.follow(wants(['segment-1']))
    const release = await planned.hold('segment-3', new AbortController().signal)
    expect(sessions.live.has('segment-3')).toBe(true)
    // A new plan while the request runs: segment-3 stays until the request lets go.
    await planned.follow(wants(['segment-2']))
    expect(sessions.live.has('segment-3')).toBe(true)
    release()
    await planned.follow(wants(['segment-2']))
    expect([...planned.loaded()]).toEqual(['segment-2'])
    expect(sessions.live).toEqual(new Set(['segment-2']))
  })

  it('shares one load between requests that ask at once, and a cancelled one stops waiting', async () => {
    const gate = recordingSessions()
    const planned = models(gate.sessions, { maxLoaded: 3 })
    gate.hold()
    const first = planned.hold('segment-2', new AbortController().signal)
    const abort = new AbortController()
    const second = planned.hold('segment-2', abort.signal)
    abort.abort()
    await expect(second).rejects.toMatchObject({ code: 'cancelled' })
    gate.release()
    ;(await first)()
    expect(gate.sessions.events).toEqual(['load segment-2'])
    expect(planned.loaded().has('segment-2')).toBe(true)
  })

  it('answers not-loaded when a model cannot be loaded, and bad-message for a stranger', async () => {
    const failing: ModelSessions = {
      loadModel: async () => {
        throw new Error('out of memory')
      },
      unload: async () => {},
    }
    const planned = models(failing)
    await expect(planned.hold('segment-1', new AbortController().signal)).rejects.toMatchObject({
      code: 'not-loaded',
      message: expect.stringContaining('out of memory'),
    })
    await expect(planned.hold('no-such-model', new AbortController().signal)).rejects.toMatchObject(
      { code: 'bad-message' },
    )
    // A plan naming a model that fails to load still settles; the rest of the plan loads.
    await planned.follow(wants(['segment-1']))
    expect([...planned.loaded()]).toEqual([])
  })

  it('lets a newer plan take over from one still loading', async () => {
    const gate = recordingSessions()
    const planned = models(gate.sessions, { maxLoaded: 1 })
    gate.hold()
    const older = planned.follow(wants(['segment-1', 'segment-2']))
    const newer = planned.follow(wants(['segment-3']))
    gate.release()
    await Promise.all([older, newer])
    expect([...planned.loaded()]).toEqual(['segment-3'])
    // The older plan's second model was never loaded: the newer one took over after its first.
    expect(gate.sessions.events).not.toContain('load segment-2')
  })
})
