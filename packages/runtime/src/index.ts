// Everything, for Node and the worker. Pages import `@cohort/runtime/client`, which leaves out
// the engine (onnxruntime-web) so the page never downloads it.
export * from './client.ts'
export * from './engine.ts'
export * from './local-runtime.ts'
export * from './worker-protocol.ts'
