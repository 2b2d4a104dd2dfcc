import { CohortError, type Manifest } from '@cohort/protocol'
import {
  chooseNodeExecutionProvider,
  DirectoryModelCache,
  type EpChoice,
  type LocalRuntime,
  ModelStore,
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

/** A task's models, verified and loaded on the faster engine. */
export interface TaskModels {
  readonly manifest: Manifest
  readonly ep: EpChoice
}

const CALIBRATION_RUNS = 20

/**
 * Downloads (or reads from the cache folder) every model of the task, each checked against the
 * manifest's size and sha256; measures onnxruntime-node against onnxruntime-web's WASM on the
 * teacher; loads every model on the faster.
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
  const bytes = new Map<string, ArrayBuffer>()
  let fromCache = 0
  for (const entry of manifest.models) {
    const stored = await store.load(entry)
    if (stored.source === 'cache') fromCache++
    bytes.set(entry.id, stored.bytes)
  }
  const downloaded = manifest.models.length - fromCache
  options.log(
    `${manifest.models.length} models verified (${fromCache} from ${options.cacheDir}, ${downloaded} downloaded)`,
  )
  await runtime.configure({ numThreads: options.threads, slowdown: options.slowdown })
  const teacher = manifest.models.find((entry) => entry.id === manifest.teacher.model)
  if (!teacher) throw new CohortError('internal', `the ${options.task} manifest has no teacher`)
  const ep =
    options.ep ??
    (await chooseNodeExecutionProvider(runtime, {
      modelId: teacher.id,
      bytes: bytes.get(teacher.id) as ArrayBuffer,
      inputs: teacher.inputs,
      runs: CALIBRATION_RUNS,
      threads: options.threads,
    }))
  options.log(options.ep ? `${ep.executionProvider}, as measured by this process` : ep.reason)
  for (const entry of manifest.models) {
    await runtime.loadModel(entry.id, bytes.get(entry.id) as ArrayBuffer, {
      executionProvider: ep.executionProvider,
      inputs: entry.inputs,
    })
  }
  return { manifest, ep }
}
