export {
  argmax,
  type EnsembleAnswer,
  type EnsembleDependencies,
  type EnsembleRequestOptions,
  inferEnsemble,
  type Redundancy,
  type SliceWinner,
} from './ensemble-requester.ts'
export type { Float32TensorData, ModelRunner } from './model-runner.ts'
export { MODEL_PARAM, modelServer, RUN_MODEL_METHOD } from './model-server.ts'
export { OutcomeTracker } from './outcome-tracker.ts'
export { inferSingle, type SingleAnswer } from './single-requester.ts'
