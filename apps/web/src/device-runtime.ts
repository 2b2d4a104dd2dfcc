import type { Manifest, ModelEntry } from '@cohort/protocol'
import {
  chooseExecutionProvider,
  compareWithReference,
  type DeviceProfileReport,
  type EngineInfo,
  type EpChoice,
  type ExecutionProvider,
  type HashMode,
  MAX_SLOWDOWN,
  ModelStore,
  measureDeviceProfile,
  probeWebGpu,
  profiledModels,
  type ReferenceOutcome,
  RuntimeClient,
  referenceCases,
  type StorageMode,
  sha256Digest,
  toRuntimeError,
  twinKey,
} from '@cohort/runtime/client'
import { deviceLabel } from './device-label.ts'

/**
 * The device page's runtime: downloads the models a profile measures (one of each twin set) into
 * the store (with progress), starts the worker, chooses the execution provider by measuring,
 * loads them, and measures the device profile. The other models wait for a plan to name them
 * (see `serveDevice`): fetched, verified and loaded then. Loaded on demand so the page's first
 * paint does not wait for it.
 */

/** One model's progress through download and loading. */
export interface ModelRow {
  readonly id: string
  readonly bytesTotal: number
  bytesDone: number
  source: 'network' | 'cache' | null
  /**
   * `deferred`: not needed yet (fetched when a plan names it); `verified`: its bytes are here but
   * no session holds it; `ready`: loaded in the worker.
   */
  state: 'deferred' | 'waiting' | 'downloading' | 'verified' | 'ready' | 'failed'
  error: string | null
}

/** Where the runtime is, for the view. */
export type RuntimePhase =
  | 'downloading'
  | 'starting'
  | 'calibrating'
  | 'loading'
  | 'profiling'
  | 'ready'
  | 'failed'

/** Everything the Models section shows. */
export interface RuntimeState {
  readonly task: string
  phase: RuntimePhase
  error: string | null
  storage: StorageMode | null
  hashing: HashMode | null
  models: ModelRow[]
  ep: EpChoice | null
  /** The worker's engine: threads, isolation, which onnxruntime-web build. */
  engine: EngineInfo | null
  profile: DeviceProfileReport | null
  restarts: number
  /** Progress events received per model, so tests can see progress was reported. */
  readonly progressEvents: Record<string, number>
}

/** A reference run's outcome per model, plus how many workers the first run needed. */
export interface ReferenceReport {
  readonly outcomes: readonly ReferenceOutcome[]
  readonly attempts: readonly number[]
}

/** What `window.cohort.runtime` offers engineers in the console and e2e tests. */
export interface RuntimePageHandle {
  /** A snapshot of the Models section's state. */
  state(): RuntimeState
  /** Resolves once every model is loaded and profiled (or rejects with the failure). */
  whenReady(): Promise<RuntimeState>
  /** Runs the shipped reference inputs through the worker and compares with PyTorch's outputs. */
  runReference(): Promise<ReferenceReport>
  /**
   * The same on a provider of your choice, on temporary sessions (e.g. WebGPU on a software
   * adapter, which the provider choice never takes): a correctness check, not a speed one.
   */
  runReferenceOn(
    executionProvider: ExecutionProvider,
    modelIds: readonly string[],
  ): Promise<ReferenceReport>
  /** Kills the worker behind the client's back, as a crash would. */
  crashWorker(): void
  /**
   * Emulates a device `factor` times slower from now on (1: real speed); the profile the
   * coordinator has is not measured again, so the planner still takes it for what it was.
   */
  setSlowdown(factor: number): Promise<EngineInfo>
  /** Measures the device profile again (`runs` per model, default 10). */
  profile(runs?: number): Promise<DeviceProfileReport>
  /** The worker-backed runtime, for serving and combining (models load as the state says). */
  readonly client: RuntimeClient
  /** The task's manifest, once fetched. */
  manifest(): Manifest | null
  /** A model's verified bytes (kept since download, else from the store or the network). */
  modelBytes(entry: ModelEntry): Promise<ArrayBuffer>
  /** The models the worker holds now (as the device's plan-following loads and frees them). */
  showLoaded(modelIds: ReadonlySet<string>): void
}

const PROFILE_RUNS = 10
const CALIBRATION_RUNS = 10
const DOWNLOAD_LANES = 3

/** Starts the runtime for `task`; `changed` is called whenever the state changes. */
export function startDeviceRuntime(task: string, changed: () => void): RuntimePageHandle {
  const state: RuntimeState = {
    task,
    phase: 'downloading',
    error: null,
    storage: null,
    hashing: null,
    models: [],
    ep: null,
    engine: null,
    profile: null,
    restarts: 0,
    progressEvents: {},
  }
  const baseUrl = `${location.origin}/`
  // Threads need cross-origin isolation (the server sends COOP/COEP); these models gain little
  // past 4. `?threads=N` overrides, for experiments.
  const asked = Number(new URLSearchParams(location.search).get('threads'))
  const cores = navigator.hardwareConcurrency || 1
  const threads = !crossOriginIsolated
    ? 1
    : Number.isInteger(asked) && asked >= 1
      ? Math.min(asked, cores)
      : Math.max(1, Math.min(4, cores))
  // `?slowdown=F` emulates a device F times slower (every run computes, then waits (F − 1) × its
  // compute): benchmarks' stragglers, since DevTools CPU throttling does not reach workers.
  let slowdown = slowdownFromUrl()
  const client = new RuntimeClient({
    config: { numThreads: threads, slowdown },
    onEvent: (event) => {
      if (event.type === 'restarted') state.restarts = event.restarts
      if (event.type === 'gave-up') fail(event.reason)
      changed()
    },
  })
  addEventListener('pagehide', () => client.dispose(), { once: true })
  let manifest: Manifest | null = null
  let modelStore: ModelStore | null = null
  /** Verified model bytes, for sessions made after start (provider checks). */
  const bytes = new Map<string, ArrayBuffer>()

  let rows = new Map<string, ModelRow>()
  /** Fetches and verifies one model into the store (cache first), its row showing the progress. */
  const download = async (store: ModelStore, entry: ModelEntry): Promise<ArrayBuffer> => {
    const row = rows.get(entry.id)
    if (row) row.state = 'downloading'
    try {
      const stored = await store.load(entry, {
        onProgress: (p) => {
          if (row) {
            row.bytesDone = p.bytesDone
            row.source = p.source
          }
          state.progressEvents[entry.id] = (state.progressEvents[entry.id] ?? 0) + 1
          changed()
        },
      })
      bytes.set(entry.id, stored.bytes)
      if (row) row.state = 'verified'
      return stored.bytes
    } catch (error) {
      if (row) {
        row.state = 'failed'
        row.error = toRuntimeError(error).message
      }
      throw error
    } finally {
      changed()
    }
  }

  const fail = (message: string) => {
    state.phase = 'failed'
    state.error = message
    changed()
  }

  const measureProfile = async (runs = PROFILE_RUNS): Promise<DeviceProfileReport> => {
    if (!manifest || !state.ep) throw new Error('the runtime is not ready yet')
    const profile = await measureDeviceProfile(client, {
      task,
      label: deviceLabel(),
      executionProvider: state.ep.executionProvider,
      epReason: state.ep.reason,
      threads: state.ep.threads,
      models: manifest.models.map((m) => ({ id: m.id, inputs: m.inputs, twin: twinKey(m) })),
      runs,
      slowdown,
    })
    state.profile = profile
    changed()
    return profile
  }

  const start = async (): Promise<void> => {
    const store = await ModelStore.open({ baseUrl })
    modelStore = store
    state.storage = store.storage
    state.hashing = store.hashing
    manifest = await store.fetchManifest(task)
    const m = manifest
    const profiled = profiledModels(m)
    const needed = new Set(profiled.map((entry) => entry.id))
    state.models = m.models.map((entry) => ({
      id: entry.id,
      bytesTotal: entry.bytes,
      bytesDone: 0,
      source: null,
      state: needed.has(entry.id) ? 'waiting' : 'deferred',
      error: null,
    }))
    rows = new Map(state.models.map((row) => [row.id, row]))
    changed()
    // A few at a time: small files are latency-bound, and a phone should not open twenty sockets.
    const queue = [...profiled]
    const lanes = Array.from({ length: DOWNLOAD_LANES }, async () => {
      for (let entry = queue.shift(); entry; entry = queue.shift()) {
        try {
          await download(store, entry)
        } catch (error) {
          queue.length = 0 // one failure fails the task: start nothing new
          throw error
        }
      }
    })
    const outcomes = await Promise.allSettled(lanes)
    const failed = outcomes.find((o) => o.status === 'rejected')
    if (failed) throw failed.reason
    // This page needs exactly this task's models: anything else in the cache goes.
    await store.retain(m.models)

    state.phase = 'starting'
    changed()
    // Probe first: without any adapter the WASM-only engine (half the download and compile) will do.
    const webgpu = await probeWebGpu()
    const info = await client.configure({
      numThreads: threads,
      build: webgpu.adapterFound ? 'full' : 'wasm-only',
      slowdown,
    })
    state.engine = info
    state.phase = 'calibrating'
    changed()
    const teacher = m.models.find((entry) => entry.id === m.teacher.model) ?? m.models[0]
    if (!teacher) throw new Error(`the ${task} manifest lists no models`)
    state.ep = await chooseExecutionProvider(
      client,
      {
        modelId: teacher.id,
        bytes: bytes.get(teacher.id) as ArrayBuffer,
        inputs: teacher.inputs,
        runs: CALIBRATION_RUNS,
        threads: info.numThreads,
      },
      webgpu,
    )
    state.phase = 'loading'
    changed()
    for (const entry of profiled) {
      await client.loadModel(entry.id, bytes.get(entry.id) as ArrayBuffer, {
        executionProvider: state.ep.executionProvider,
        inputs: entry.inputs,
      })
      ;(rows.get(entry.id) as ModelRow).state = 'ready'
      changed()
    }
    state.phase = 'profiling'
    changed()
    await measureProfile(PROFILE_RUNS)
    state.phase = 'ready'
    changed()
  }

  /** Reference inputs through the loaded sessions, or through temporary sessions on `ep`. */
  const referencePass = async (
    ep: ExecutionProvider | null,
    modelIds: readonly string[] | null,
  ): Promise<ReferenceReport> => {
    await ready
    const m = manifest as Manifest
    const [sample, reference] = await Promise.all([
      fetchVerified(baseUrl, m.data.sample),
      fetchVerified(baseUrl, m.data.reference),
    ])
    const outcomes: ReferenceOutcome[] = []
    const attempts: number[] = []
    for (const c of referenceCases(m, sample, reference)) {
      if (modelIds && !modelIds.includes(c.modelId)) continue
      let id = c.modelId
      // Another provider, or a model the worker does not hold now: on a temporary session.
      const temporary = ep !== null || rows.get(c.modelId)?.state !== 'ready'
      if (temporary) {
        const entry = m.models.find((e) => e.id === c.modelId)
        if (!entry) continue
        const provider = ep ?? state.ep?.executionProvider ?? 'wasm'
        id = `check-${provider}-${c.modelId}`
        await client.loadModel(id, await handle.modelBytes(entry), {
          executionProvider: provider,
          inputs: entry.inputs,
        })
      }
      try {
        const result = await client.run(id, c.inputs)
        outcomes.push(compareWithReference(c, result.outputs))
        attempts.push(result.attempts)
      } finally {
        if (temporary) await client.unload(id)
      }
    }
    return { outcomes, attempts }
  }

  const ready = start().then(
    () => state,
    (error: unknown) => {
      fail(toRuntimeError(error).message)
      throw error
    },
  )
  // The page shows the failure; whenReady() callers get the rejection themselves.
  void ready.catch(() => undefined)

  const handle: RuntimePageHandle = {
    state: () => structuredClone(state),
    whenReady: () => ready.then(() => structuredClone(state)),
    runReference: () => referencePass(null, null),
    runReferenceOn: (ep, modelIds) => referencePass(ep, modelIds),
    crashWorker: () => client.crashWorkerForTesting(),
    profile: (runs) => measureProfile(runs),
    setSlowdown: async (factor) => {
      const info = await client.setSlowdown(factor)
      slowdown = info.slowdown
      return info
    },
    client,
    manifest: () => manifest,
    modelBytes: async (entry) => {
      const kept = bytes.get(entry.id)
      if (kept) return kept
      if (!modelStore) throw new Error('the runtime has not opened its model store yet')
      return download(modelStore, entry)
    },
    showLoaded: (modelIds) => {
      let moved = false
      for (const row of state.models) {
        const next = modelIds.has(row.id)
          ? 'ready'
          : row.state === 'ready'
            ? bytes.has(row.id)
              ? 'verified'
              : 'deferred'
            : row.state
        moved ||= next !== row.state
        row.state = next
      }
      if (moved) changed()
    },
  }
  return handle
}

/** `?slowdown=F` (1 ≤ F ≤ MAX_SLOWDOWN), else 1. */
function slowdownFromUrl(): number {
  const asked = Number(new URLSearchParams(location.search).get('slowdown') ?? 1)
  return Number.isFinite(asked) && asked >= 1 && asked <= MAX_SLOWDOWN ? asked : 1
}

/** A data file checked against its manifest hash (diagnostics only; not cached). */
async function fetchVerified(
  baseUrl: string,
  file: { readonly file: string; readonly sha256: string },
): Promise<Uint8Array> {
  const response = await fetch(`${baseUrl}${file.file}`)
  if (!response.ok) throw new Error(`${file.file} answered ${response.status}`)
  const bytes = new Uint8Array(await response.arrayBuffer())
  if ((await sha256Digest(bytes)) !== file.sha256) throw new Error(`${file.file} fails its sha256`)
  return bytes
}
