import { CohortError, type Manifest, type ModelEntry } from '@cohort/protocol'
import {
  chooseNodeExecutionProvider,
  DirectoryModelCache,
  type EpChoice,
  type LocalRuntime,
  ModelStore,
  profiledModels,
} from '@cohort/runtime/node'

/** Where a Node member gets its task's models, and how it runs them. */
export interface TaskModelsOptions {
  /** The coordinator's origin (`http://host:8080`): manifest and models come from there. */
  readonly origin: string
  readonly task: string
  /** Where verified models are kept between runs. */
  readonly cacheDir: string
  /** Intra-op threads of the native engine. */
  readonly threads: number
  /** Emulate a device this many times slower (1: real speed). */
  readonly slowdown: number
  readonly log: (line: string) => void
  /** The engine another device of this process measured: the same machine, no need to again. */
  readonly ep?: EpChoice
}

/** A task's models: its manifest, the engine they run on, the ones loaded so far, and the rest. */
export interface TaskModels {
  readonly manifest: Manifest
  readonly ep: EpChoice
  /** Loaded now: one of each twin set, to profile on (none when the engine was measured before). */
  readonly loaded: readonly string[]
  /** Any model's verified bytes, from the cache folder or the coordinator (then cached). */
  readonly bytes: (entry: ModelEntry) => Promise<ArrayBuffer>
}

const CALIBRATION_RUNS = 20

/**
 * Fetches the task's manifest and makes its models available from the cache folder (each
 * checked against the manifest's size and sha256 wherever it comes from). Unless another device
 * of this process measured already, measures onnxruntime-node against onnxruntime-web's WASM on
 * the teacher and loads one model of each twin set on the faster, for the profile. Everything
 * else is loaded when the plan names it.
 */
export async function loadTaskModels(
  runtime: LocalRuntime,
  options: TaskModelsOptions,
): Promise<TaskModels> {
  const store = await ModelStore.open({
    baseUrl: `${options.origin}/`,
    cache: await DirectoryModelCache.open(options.cacheDir),
  })
  const manifest = await store.fetchManifest(options.task)
  const bytes = async (entry: ModelEntry) => (await store.load(entry)).bytes
  await runtime.configure({ numThreads: options.threads, slowdown: options.slowdown })
  if (options.ep) {
    options.log(`${options.ep.executionProvider}, as measured by this process`)
    return { manifest, ep: options.ep, loaded: [], bytes }
  }
  const teacher = manifest.models.find((entry) => entry.id === manifest.teacher.model)
  if (!teacher) throw new CohortError('internal', `the ${options.task} manifest has no teacher`)
  const ep = await chooseNodeExecutionProvider(runtime, {
    modelId: teacher.id,
    bytes: await bytes(teacher),
    inputs: teacher.inputs,
    runs: CALIBRATION_RUNS,
    threads: options.threads,
  })
  options.log(ep.reason)
  const profiled = profiledModels(manifest)
  for (const entry of profiled) {
    await runtime.loadModel(entry.id, await bytes(entry), {
      executionProvider: ep.executionProvider,
      inputs: entry.inputs,
    })
  }
  options.log(`${profiled.length} of ${manifest.models.length} models loaded to profile on`)
  return { manifest, ep, loaded: profiled.map((entry) => entry.id), bytes }
}
