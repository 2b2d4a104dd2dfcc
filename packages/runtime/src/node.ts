// The Node entry (`@cohort/runtime/node`): everything, plus what only Node has: the native
// engine (onnxruntime-node) and a model cache in a folder. Browsers never import it.
import { LocalRuntime } from './local-runtime.ts'
import { createNativeSession } from './node-engine.ts'

export * from './directory-cache.ts'
export * from './index.ts'

/** A runtime in this thread with both engines: onnxruntime-node ('cpu') and onnxruntime-web ('wasm'). */
export function nodeRuntime(): LocalRuntime {
  return new LocalRuntime({ native: createNativeSession })
}
