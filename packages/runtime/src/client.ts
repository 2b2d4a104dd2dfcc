// The page-side entry (`@cohort/runtime/client`): everything a page needs without onnxruntime-web,
// which only the worker loads.
export * from './api.ts'
export * from './device-profile.ts'
export * from './engine-facts.ts'
export * from './ep-choice.ts'
export * from './inputs.ts'
export * from './model-cache.ts'
export * from './model-store.ts'
export * from './reference-check.ts'
export * from './runtime-client.ts'
export * from './runtime-error.ts'
export * from './sha256.ts'
