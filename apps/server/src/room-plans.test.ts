import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  assignModels,
  DEFAULT_ENSEMBLE_OPTIONS,
  DEFAULT_FAILURE_PRIOR,
  type DeviceSpec,
  estimateFailureProbability,
  planEnsemble,
  planTiers,
  segmentChainFromManifest,
  studentSetsFromManifest,
  taskModelIdsFromManifest,
} from '@cohort/planner'
import { MAX_LOADED_REPORTED, type Manifest, type Plan, parseManifest } from '@cohort/protocol'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ASSUMED_BYTES_PER_MS, ASSUMED_RTT_MS, MAX_REPLAN_DELAY_FACTOR } from './room-plans.ts'
import { REPO_ROOT, type RunningServer, type ServerOptions } from './server.ts'
import {
  type JoinedMember,
  type PlanPush,
  ServerHarness,
  type TestClient,
} from './testing/clients.ts'

const SHIPPED_MODELS = join(REPO_ROOT, 'public', 'models')
const DEBOUNCE_MS = 20

let modelsDir: string
const manifests = new Map<string, Manifest>()

// The planner reads a snapshot of the shipped manifests, so that a training run rewriting
// public/models mid-test cannot change the server's plans under the expected ones. A task not
// shipped yet (fashion, while it trains) stands in with the digits manifest under its name.
beforeAll(() => {
  modelsDir = mkdtempSync(join(tmpdir(), 'cohort-room-plans-models-'))
  const digits = join(SHIPPED_MODELS, 'digits', 'manifest.json')
  if (!existsSync(digits)) throw new Error(`${digits} is missing: train and export the models`)
  for (const task of ['fashion', 'digits']) {
    const shipped = join(SHIPPED_MODELS, task, 'manifest.json')
    const file = join(modelsDir, task, 'manifest.json')
    mkdirSync(join(modelsDir, task))
    if (existsSync(shipped)) copyFileSync(shipped, file)
    else writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(digits, 'utf8')), task }))
    const parsed = parseManifest(JSON.parse(readFileSync(file, 'utf8')))
    if (!parsed.ok) throw new Error(`${task} manifest: ${parsed.error}`)
    manifests.set(task, parsed.value)
  }
})

afterAll(() => {
  rmSync(modelsDir, { recursive: true, force: true })
})

let harness: ServerHarness

beforeEach(() => {
  harness = new ServerHarness()
})

afterEach(async () => {
  await harness.close()
})

function manifestOf(task: string): Manifest {
  const manifest = manifests.get(task)
  if (!manifest) throw new Error(`no manifest for ${task}`)
  return manifest
}

function start(options: ServerOptions = {}): Promise<RunningServer> {
  return harness.start({ modelsDir, replanDebounceMs: DEBOUNCE_MS, ...options })
}

/** Measured ms of every student and combiner of the task, for a device `slowdown` times slower. */
function msPerModel(task: string, slowdown = 1): Record<string, number> {
  const manifest = manifestOf(task)
  const ids = manifest.ensembles.flatMap((ensemble) => [...ensemble.students, ensemble.combiner])
  return Object.fromEntries(
    ids.map((id) => {
      const macs = manifest.models.find((model) => model.id === id)?.macs ?? 0
      return [id, Math.round((0.05 + macs / 50_000) * slowdown * 1_000) / 1_000]
    }),
  )
}

function profile(task: string, ms: Record<string, number>) {
  return {
    type: 'profile',
    profile: {
      task,
      label: 'test device',
      executionProvider: 'wasm',
      threads: 2,
      cores: 4,
      memoryGb: 4,
      msPerModel: ms,
    },
  }
}

/** The plan's devices as the planner should have seen them. */
function plannedDevices(
  plan: Plan,
  msOf: (deviceId: string) => Record<string, number>,
  records: Record<
    string,
    { requests: number; misses: number; rttMs?: number; bytesPerMs?: number }
  > = {},
): DeviceSpec[] {
  return plan.devices.map(({ deviceId }) => ({
    deviceId,
    msPerModel: msOf(deviceId),
    rttMs: records[deviceId]?.rttMs ?? ASSUMED_RTT_MS,
    bytesPerMs: records[deviceId]?.bytesPerMs ?? ASSUMED_BYTES_PER_MS,
    failureProbability: estimateFailureProbability(
      records[deviceId]?.requests ?? 0,
      records[deviceId]?.misses ?? 0,
    ),
  }))
}

/** What the server should have planned: the planner called directly on the plan's devices. */
function expectedEnsemble(
  plan: Plan,
  msOf: (deviceId: string) => Record<string, number>,
  records: Record<
    string,
    { requests: number; misses: number; rttMs?: number; bytesPerMs?: number }
  > = {},
) {
  const devices = plannedDevices(plan, msOf, records)
  return planEnsemble(devices, studentSetsFromManifest(manifestOf(plan.task)))
}

const idsOf = (members: readonly JoinedMember[]): string[] => members.map((m) => m.welcome.deviceId)
const sorted = (ids: readonly string[]) => [...ids].sort()
const planned = (plan: Plan) => sorted(plan.ensemble?.groups.flatMap((g) => g.members) ?? [])

/** Sends every device's profile and waits until each client has a plan with all of them. */
async function profileAll(
  everyone: readonly TestClient[],
  devices: readonly JoinedMember[],
  task: string,
  msOf: (index: number) => Record<string, number>,
): Promise<Plan> {
  const replies = await Promise.all(
    devices.map((device, index) => device.client.request(profile(task, msOf(index)))),
  )
  expect(replies).toEqual(devices.map(() => ({ type: 'ok' })))
  const ids = sorted(idsOf(devices))
  const all = (push: PlanPush) =>
    sorted(push.plan.devices.map((device) => device.deviceId)).join() === ids.join()
  const pushes = await Promise.all(everyone.map((c) => c.planAfter(0, all)))
  // Nothing changed after the last profile, so everyone holds the same, latest plan.
  for (const push of pushes) expect(push).toEqual(pushes[0])
  const plan = pushes[0]!.plan
  for (const c of everyone) expect(c.latestPlan()).toEqual(pushes[0])
  return plan
}

/** The plan `client` was pushed just before `plan`: the one a replan starts from. */
function planBefore(client: TestClient, plan: Plan): Plan | null {
  const earlier = client.pushes.flatMap((p) =>
    p.type === 'plan' && p.plan.version < plan.version ? [p.plan] : [],
  )
  return earlier.at(-1) ?? null
}

describe('room plans over socket.io', () => {
  it('plans six equal devices as the planner does and pushes the plan to every member', async () => {
    const server = await start()
    const { host, hostWelcome, members } = await harness.room(server, 6)
    const everyone = [host, ...members.map((m) => m.client)]
    const plan = await profileAll(everyone, members, 'fashion', () => msPerModel('fashion'))

    // Versions only grow, and every member saw them in order.
    for (const c of everyone) {
      const versions = c.pushes.flatMap((p) => (p.type === 'plan' ? [p.plan.version] : []))
      expect(versions.length).toBeGreaterThan(0)
      for (let i = 1; i < versions.length; i++) {
        expect(versions[i]).toBeGreaterThan(versions[i - 1]!)
      }
      expect(versions.at(-1)).toBe(plan.version)
    }
    expect(plan.task).toBe('fashion')
    expect(sorted(plan.devices.map((device) => device.deviceId))).toEqual(sorted(idsOf(members)))
    expect(plan.devices.map((device) => device.deviceId)).not.toContain(hostWelcome.deviceId)
    const ensemble = plan.ensemble
    if (!ensemble) throw new Error('expected an ensemble')
    // Every profiled device serves exactly once.
    expect(planned(plan)).toEqual(sorted(idsOf(members)))
    expect(ensemble.explanation.length).toBeGreaterThan(0)
    expect(ensemble.explanation.every((line) => line.length > 0)).toBe(true)

    const expected = expectedEnsemble(plan, () => msPerModel('fashion'))
    expect(ensemble.k).toBe(expected?.k)
    expect(ensemble.groups.map((g) => g.members.length)).toEqual(
      expected?.groups.map((g) => g.members.length),
    )
    expect(ensemble).toEqual(expected)
  })

  it('plans heterogeneous devices as the planner does', async () => {
    const server = await start()
    const { host, members } = await harness.room(server, 6)
    const slowdown = (index: number) => [1, 1.5, 2, 4, 8, 16][index] ?? 1
    const plan = await profileAll([host], members, 'fashion', (i) =>
      msPerModel('fashion', slowdown(i)),
    )
    const ids = idsOf(members)
    const expected = expectedEnsemble(plan, (id) =>
      msPerModel('fashion', slowdown(ids.indexOf(id))),
    )
    expect(expected).not.toBeNull()
    expect(plan.ensemble).toEqual(expected)
    expect(planned(plan)).toEqual(sorted(ids))
    // The early-exit tiers of the same plan: the planner's, every device once, 2+ per tier.
    const msOf = (id: string) => msPerModel('fashion', slowdown(ids.indexOf(id)))
    const tiers = planTiers(
      plannedDevices(plan, msOf),
      segmentChainFromManifest(manifestOf('fashion')),
      planBefore(host, plan)?.earlyExit ?? null,
    )
    expect(plan.earlyExit).toEqual(tiers)
    expect(sorted(plan.earlyExit?.tiers.flatMap((tier) => tier.members) ?? [])).toEqual(sorted(ids))
    expect(plan.earlyExit?.tiers.every((tier) => tier.members.length >= 2)).toBe(true)
  })

  it("names each device's models in the plan and plans with the models devices report loaded", async () => {
    const server = await start()
    const { host, members } = await harness.room(server, 6)
    const first = await profileAll([host], members, 'fashion', () => msPerModel('fashion'))
    const manifest = manifestOf('fashion')
    expect(first.models).toEqual(assignModels(first, taskModelIdsFromManifest(manifest)))
    expect(first.models.map((m) => m.deviceId)).toEqual(first.devices.map((d) => d.deviceId))

    // Every device reports it has only K=1's student loaded: no replan for that alone, but the
    // next replan (a device leaves) plans with it, as the planner does given the same reports.
    const k1 = manifest.ensembles.find((ensemble) => ensemble.k === 1)?.students ?? []
    for (const member of members) {
      expect(await member.client.request({ type: 'loaded', models: k1 })).toEqual({ type: 'ok' })
    }
    expect(host.latestPlan()?.plan.version).toBe(first.version)
    const leaving = members[5]!
    leaving.client.close()
    const next = (await host.planAfter(first.version, (push) => push.plan.devices.length === 5))
      .plan
    const devices = plannedDevices(next, () => msPerModel('fashion')).map((device) => ({
      ...device,
      loaded: new Set(k1),
    }))
    expect(next.ensemble).toEqual(planEnsemble(devices, studentSetsFromManifest(manifest)))
    // Refused: a list too long, a malformed id, and from a host.
    const tooMany = Array.from({ length: MAX_LOADED_REPORTED + 1 }, (_, i) => `model-${i}`)
    for (const [models, code] of [
      [tooMany, 'payload-too-large'],
      [['Not An Id'], 'bad-message'],
    ] as const) {
      expect(await members[0]!.client.request({ type: 'loaded', models })).toMatchObject({
        type: 'error',
        code,
      })
    }
    expect(await host.request({ type: 'loaded', models: k1 })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    })
  })

  it('drops a device that disconnects from the next plan and pushes the current plan to a newcomer', async () => {
    const server = await start()
    const { code, host, members } = await harness.room(server, 6)
    const everyone = [host, ...members.map((m) => m.client)]
    const before = await profileAll(everyone, members, 'fashion', () => msPerModel('fashion'))

    const [gone, ...staying] = members
    gone!.client.close()
    const after = await Promise.all(
      [host, ...staying.map((m) => m.client)].map((c) => c.planAfter(before.version)),
    )
    // The whole room moves to one new version, and the departed device is in none of its groups.
    for (const push of after) expect(push).toEqual(after[0])
    const plan = after[0]!.plan
    expect(plan.version).toBeGreaterThan(before.version)
    expect(sorted(plan.devices.map((device) => device.deviceId))).toEqual(sorted(idsOf(staying)))
    expect(planned(plan)).toEqual(sorted(idsOf(staying)))
    expect(plan.ensemble).toEqual(expectedEnsemble(plan, () => msPerModel('fashion')))

    // A newcomer is handed the current plan right after its welcome, before it profiles.
    const newcomer = await harness.device(server, code, 'newcomer')
    const first = await newcomer.client.nextOfType('plan')
    expect(newcomer.client.pushes[0]).toBe(first)
    expect(first).toEqual(after[0])
    expect(first.plan.devices.map((device) => device.deviceId)).not.toContain(
      newcomer.welcome.deviceId,
    )

    // Its profile brings it into the next plan.
    expect(await newcomer.client.request(profile('fashion', msPerModel('fashion')))).toEqual({
      type: 'ok',
    })
    const next = await host.planAfter(plan.version)
    expect(sorted(next.plan.devices.map((device) => device.deviceId))).toEqual(
      sorted([...idsOf(staying), newcomer.welcome.deviceId]),
    )
    expect(await newcomer.client.planAfter(plan.version)).toEqual(next)
  })

  it('lets only the host set the task, and plans only the devices profiled for it', async () => {
    const server = await start()
    const { host, members } = await harness.room(server, 6)
    const fashionDevices = members.slice(0, 4)
    const digitsDevices = members.slice(4)
    await Promise.all(
      digitsDevices.map((d) => d.client.request(profile('digits', msPerModel('digits')))),
    )
    const fashion = await profileAll([host], fashionDevices, 'fashion', () => msPerModel('fashion'))
    expect(fashion.task).toBe('fashion')
    expect(planned(fashion)).toEqual(sorted(idsOf(fashionDevices)))

    expect(await members[0]!.client.request({ type: 'set-task', task: 'digits' })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    })
    expect(await host.request({ type: 'set-task', task: 'digits' })).toEqual({ type: 'ok' })
    const digits = (await host.planAfter(fashion.version)).plan
    expect(digits.task).toBe('digits')
    expect(sorted(digits.devices.map((device) => device.deviceId))).toEqual(
      sorted(idsOf(digitsDevices)),
    )
    expect(planned(digits)).toEqual(sorted(idsOf(digitsDevices)))
    expect(digits.ensemble).toEqual(expectedEnsemble(digits, () => msPerModel('digits')))
    // The refused set-task changed nothing: the only replan is the host's.
    expect(
      host.pushes.filter((p) => p.type === 'plan' && p.plan.version > fashion.version),
    ).toEqual([{ type: 'plan', plan: digits }])

    expect(await host.request({ type: 'set-task', task: 'no-such-task' })).toEqual({ type: 'ok' })
    const unknown = (await host.planAfter(digits.version)).plan
    expect(unknown).toMatchObject({ task: 'no-such-task', devices: [], ensemble: null })
    expect(harness.logs.some((line) => line.includes('no manifest for task no-such-task'))).toBe(
      true,
    )
  })

  it('lets only the host pin the ensemble K, plans the pinned K, and unpins', async () => {
    const server = await start()
    const { host, members } = await harness.room(server, 6)
    const ms = () => msPerModel('fashion')
    const free = await profileAll([host], members, 'fashion', ms)
    expect(free.ensemble?.pinnedK).toBeNull()
    // A K the free plan did not choose, so that the pin visibly changes the plan.
    const k = free.ensemble?.k === 2 ? 3 : 2

    expect(await members[0]!.client.request({ type: 'set-ensemble-k', k })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    })
    for (const bad of [0, 17, 2.5, '2']) {
      expect(await host.request({ type: 'set-ensemble-k', k: bad })).toMatchObject({
        type: 'error',
        code: 'bad-message',
      })
    }
    expect(await host.request({ type: 'set-ensemble-k', k })).toEqual({ type: 'ok' })
    const pinned = (await host.planAfter(free.version)).plan
    expect(pinned.ensemble?.k).toBe(k)
    expect(pinned.ensemble?.pinnedK).toBe(k)
    expect(pinned.ensemble).toEqual(
      planEnsemble(plannedDevices(pinned, ms), studentSetsFromManifest(manifestOf('fashion')), {
        ...DEFAULT_ENSEMBLE_OPTIONS,
        pinnedK: k,
      }),
    )
    expect(planned(pinned)).toEqual(sorted(idsOf(members)))
    // Only the refused requests came before: the pin is the one replan.
    expect(host.pushes.filter((p) => p.type === 'plan' && p.plan.version > free.version)).toEqual([
      { type: 'plan', plan: pinned },
    ])

    expect(await host.request({ type: 'set-ensemble-k', k: null })).toEqual({ type: 'ok' })
    const unpinned = (await host.planAfter(pinned.version)).plan
    expect(unpinned.ensemble).toEqual({ ...free.ensemble })
  })

  it('raises the failure estimate of a device that misses requests', async () => {
    const server = await start()
    const { host, members } = await harness.room(server, 6)
    const ms = () => msPerModel('fashion')
    const before = await profileAll([host], members, 'fashion', ms)
    const flaky = members[0]!.welcome.deviceId
    const groupOf = (plan: Plan) => plan.ensemble?.groups.find((g) => g.members.includes(flaky))

    // A clean report is remembered but does not replan; the misses that follow do.
    const clean = { type: 'report', outcomes: [{ deviceId: flaky, requests: 30, misses: 0 }] }
    expect(await host.request(clean)).toEqual({ type: 'ok' })
    const missy = { type: 'report', outcomes: [{ deviceId: flaky, requests: 20, misses: 20 }] }
    expect(await host.request(missy)).toEqual({ type: 'ok' })
    const after = (await host.planAfter(before.version)).plan

    expect(after.ensemble).toEqual(
      expectedEnsemble(after, ms, { [flaky]: { requests: 50, misses: 20 } }),
    )
    expect(after.ensemble).not.toEqual(before.ensemble)
    // Groups fail when all members fail: dividing out the others (at the prior) leaves the
    // flaky device's own estimate, which rose from the prior to the Beta posterior of 20 in 50.
    const ownEstimate = (plan: Plan) => {
      const group = groupOf(plan)
      if (!group) throw new Error(`${flaky} serves in no group`)
      return group.failureProbability / DEFAULT_FAILURE_PRIOR ** (group.members.length - 1)
    }
    expect(ownEstimate(before)).toBeCloseTo(DEFAULT_FAILURE_PRIOR, 12)
    expect(ownEstimate(after)).toBeCloseTo(estimateFailureProbability(50, 20), 12)
    expect(estimateFailureProbability(50, 20)).toBeGreaterThan(DEFAULT_FAILURE_PRIOR)
    expect(planned(after)).toEqual(sorted(idsOf(members)))
  })

  it('costs a hop to a device at the round trip and bandwidth the host measured, replanning when a link is first measured', async () => {
    const server = await start()
    const { host, members } = await harness.room(server, 6)
    const ms = () => msPerModel('fashion')
    const before = await profileAll([host], members, 'fashion', ms)
    expect(before.devices.every((d) => !d.rttMeasured && !d.bandwidthMeasured)).toBe(true)
    const far = members[0]!.welcome.deviceId
    const measured = {
      type: 'report',
      outcomes: [{ deviceId: far, requests: 10, misses: 0, rttMs: 40, bytesPerMs: 2_000 }],
    }
    expect(await host.request(measured)).toEqual({ type: 'ok' })
    // A clean report replans only when it brings a link's first measurement, as this one does.
    const after = (await host.planAfter(before.version)).plan
    const records = { [far]: { requests: 10, misses: 0, rttMs: 40, bytesPerMs: 2_000 } }
    expect(after.devices.find((d) => d.deviceId === far)).toMatchObject({
      rttMs: 40,
      rttMeasured: true,
      bytesPerMs: 2_000,
      bandwidthMeasured: true,
    })
    expect(after.devices.filter((d) => d.rttMeasured)).toHaveLength(1)
    expect(after.ensemble).toEqual(expectedEnsemble(after, ms, records))
    expect(after.earlyExit).toEqual(
      planTiers(
        plannedDevices(after, ms, records),
        segmentChainFromManifest(manifestOf('fashion')),
        before.earlyExit,
      ),
    )
    // Each hop to it now costs the measured 40 ms; with the assumed 1 ms, none came near that.
    const tierOf = (plan: Plan) => plan.earlyExit?.tiers.find((tier) => tier.members.includes(far))
    expect(tierOf(after)?.memberMs.some((memberMs) => memberMs >= 40)).toBe(true)
    expect(tierOf(before)?.memberMs.every((memberMs) => memberMs < 40)).toBe(true)
  })

  it('lets only the host remove a device, which is told, disconnected and replanned without', async () => {
    const server = await start()
    const { host, members } = await harness.room(server, 6)
    const everyone = [host, ...members.map((m) => m.client)]
    const before = await profileAll(everyone, members, 'fashion', () => msPerModel('fashion'))
    const [target, ...staying] = members
    const targetId = target!.welcome.deviceId

    const remove = { type: 'remove-device', deviceId: targetId }
    expect(await staying[0]!.client.request(remove)).toMatchObject({ code: 'forbidden' })
    expect(await host.request({ type: 'remove-device', deviceId: 'zzzzzzzzzz' })).toMatchObject({
      type: 'error',
      code: 'peer-not-found',
    })

    const disconnected = new Promise<string>((resolve) =>
      target!.client.socket.once('disconnect', resolve),
    )
    expect(await host.request(remove)).toEqual({ type: 'ok' })
    const removed = { type: 'peer-left', deviceId: targetId, reason: 'removed' }
    expect(await target!.client.nextOfType('peer-left')).toEqual(removed)
    expect(await disconnected).toBe('io server disconnect')
    for (const c of [host, ...staying.map((m) => m.client)]) {
      expect(await c.nextOfType('peer-left')).toEqual(removed)
    }
    const after = (await host.planAfter(before.version)).plan
    expect(sorted(after.devices.map((device) => device.deviceId))).toEqual(sorted(idsOf(staying)))
    expect(planned(after)).toEqual(sorted(idsOf(staying)))
    expect(server.stats().members).toBe(6)
  })

  it('refuses planning messages from outside a room and malformed profiles', async () => {
    const server = await start()
    const { members } = await harness.room(server, 1)
    const stranger = await harness.client(server)
    const id = members[0]!.welcome.deviceId
    for (const message of [
      profile('fashion', msPerModel('fashion')),
      { type: 'report', outcomes: [{ deviceId: id, requests: 1, misses: 1 }] },
      { type: 'remove-device', deviceId: id },
      { type: 'set-task', task: 'digits' },
    ]) {
      expect(await stranger.request(message), message.type).toMatchObject({
        type: 'error',
        code: 'not-in-room',
      })
    }

    const device = members[0]!.client
    const good = profile('fashion', msPerModel('fashion')).profile
    const engine = {
      engine: 'gecko',
      clockStepMs: 0.02,
      crossOriginIsolated: true,
      webgpuApi: false,
      wakeLock: true,
    }
    for (const bad of [
      { type: 'profile' },
      { type: 'profile', profile: { ...good, threads: 0 } },
      { type: 'profile', profile: { ...good, executionProvider: 'cuda' } },
      { type: 'profile', profile: { ...good, task: 'Not A Task' } },
      { type: 'profile', profile: { ...good, msPerModel: { 'Bad Id': 1 } } },
      { type: 'profile', profile: { ...good, msPerModel: { 'student-1-0': -1 } } },
      { type: 'profile', profile: { ...good, engine: { ...engine, engine: 'trident' } } },
      { type: 'profile', profile: { ...good, engine: { ...engine, clockStepMs: -1 } } },
      { type: 'profile', profile: { ...good, engine: { ...engine, wakeLock: 'yes' } } },
      { type: 'report', outcomes: [{ deviceId: id, requests: -1, misses: 0 }] },
      { type: 'report', outcomes: [{ deviceId: id, requests: 1, misses: 0, rttMs: -1 }] },
      { type: 'report', outcomes: [{ deviceId: id, requests: 1, misses: 0, bytesPerMs: 0 }] },
      { type: 'set-task', task: 'Fashion!' },
    ]) {
      expect(await device.request(bad), JSON.stringify(bad).slice(0, 80)).toMatchObject({
        type: 'error',
        code: 'bad-message',
      })
    }
    // Still a member: a valid profile (with its engine's facts) is accepted and planned.
    expect(await device.request({ type: 'profile', profile: { ...good, engine } })).toEqual({
      type: 'ok',
    })
    expect((await device.planAfter(0)).plan.devices.map((device) => device.deviceId)).toEqual([id])
  })

  it('replans under a steady stream of changes once the longest delay has passed', async () => {
    let clock = 1_000_000
    // The quiet time never ends within the test: only the bound on the delay can produce a plan.
    const debounce = 600_000
    const server = await start({ now: () => clock, replanDebounceMs: debounce })
    const { host, members } = await harness.room(server, 1)
    const device = members[0]!.client
    expect(await device.request(profile('fashion', msPerModel('fashion')))).toEqual({ type: 'ok' })
    clock += debounce * MAX_REPLAN_DELAY_FACTOR
    expect(await device.request(profile('fashion', msPerModel('fashion', 2)))).toEqual({
      type: 'ok',
    })
    const plan = (await host.planAfter(0)).plan
    expect(plan.devices.map((device) => device.deviceId)).toEqual([members[0]!.welcome.deviceId])
  })
})
