import type { ModelSession, SessionOptions } from './engine.ts'
import { wrapOrtSession } from './engine.ts'

/**
 * The native engine: the one module that imports onnxruntime-node (ORT's CPU execution provider
 * as a Node addon, shipped inside the npm package: no install script is needed). Node devices
 * measure it against onnxruntime-web's WASM build and use the faster; browsers never load it.
 */

type OrtNode = typeof import('onnxruntime-node')

let loaded: Promise<OrtNode> | null = null

/** Creates a session on ORT's native CPU provider with `threads` intra-op threads. */
export async function createNativeSession(
  model: Uint8Array,
  options: SessionOptions & { readonly threads: number },
): Promise<ModelSession> {
  loaded ??= import('onnxruntime-node')
  const ort = await loaded
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    ...(options.allowSpinning === false
      ? {
          extra: {
            session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } },
          },
        }
      : {}),
  })
  // onnxruntime-node's types come from its own copy of onnxruntime-common: same API.
  return wrapOrtSession(
    ort as unknown as Parameters<typeof wrapOrtSession>[0],
    session as unknown as Parameters<typeof wrapOrtSession>[1],
  )
}
