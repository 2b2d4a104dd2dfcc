export { type ReadyDevice, type ServingState, serveDevice } from './device-server.ts'
export { type CloudOnlyAnswer, inferCloudOnly } from './early-exit-cloud-only.ts'
export {
  type CostModel,
  costModelFromManifest,
  type EarlyExitSummary,
  requestCost,
  summarizeEarlyExit,
  type TalliedRequest,
} from './early-exit-cost.ts'
export {
  type ExitProfile,
  exitFor,
  measureExitProfile,
  predictThresholds,
  type ThresholdPrediction,
} from './early-exit-profile.ts'
export type {
  EarlyExitAnswer,
  EarlyExitRequestOptions,
  SegmentHop,
} from './early-exit-requester.ts'
export { decideHop, exitConfidence, type HopDecision } from './early-exit-rules.ts'
export { type EarlyExitServerDependencies, earlyExitServer } from './early-exit-server.ts'
export {
  argmax,
  type EnsembleAnswer,
  type EnsembleRequestOptions,
  type Redundancy,
  type SliceWinner,
} from './ensemble-requester.ts'
export type { Float32TensorData, ModelRunner } from './model-runner.ts'
export { modelServer } from './model-server.ts'
export { OutcomeTracker } from './outcome-tracker.ts'
export { devicePeersWanted, joinAsPlannedDevice } from './plan-links.ts'
export {
  DEFAULT_MAX_LOADED_MODELS,
  type ModelHolder,
  type ModelSessions,
  PlannedModels,
  type PlannedModelsOptions,
} from './planned-models.ts'
export {
  type Answer,
  DEFAULT_DEADLINE_MS,
  DEFAULT_WINDOW,
  type InferMode,
  type InferOptions,
  MAX_WINDOW,
  type Outcome,
  Requester,
  type RequesterMesh,
  type RequesterOptions,
  type StreamOptions,
} from './requester.ts'
export type { SingleAnswer } from './single-requester.ts'
