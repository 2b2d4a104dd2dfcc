export { bottleneckAssignment } from './bottleneck-assignment.ts'
export { BRUTE_FORCE_MAX_DEVICES, bruteForceGroups } from './brute-force.ts'
export {
  costMatrix,
  DEFAULT_ENSEMBLE_OPTIONS,
  type EnsembleOptions,
  NOT_LOADED_COST_FACTOR,
  planEnsemble,
  type StudentSetSpec,
} from './ensemble-planner.ts'
export {
  DEFAULT_FAILURE_PRIOR,
  estimateFailureProbability,
  groupFailureProbability,
  PRIOR_WEIGHT,
  replicasNeeded,
} from './failure-model.ts'
export { assignGroups, type CostMatrix, type GroupAssignment } from './group-planner.ts'
export {
  DEFAULT_MACS_PER_MS,
  type DeviceSpec,
  type ModelSpec,
  remoteCallMs,
} from './latency-model.ts'
export {
  atWindow,
  capacityLine,
  type DeviceDemand,
  kneeWindow,
  MAX_CAPACITY_RPS,
  type PlanCapacity,
  planCapacity,
  type WindowPrediction,
} from './load-model.ts'
export {
  inputBytes,
  segmentChainFromManifest,
  studentSetsFromManifest,
  taskModelIdsFromManifest,
} from './manifest-specs.ts'
export {
  assignModels,
  MAX_STANDBY_MODELS,
  type TaskModelIds,
  TEACHER_REPLICAS,
} from './model-assignment.ts'
export {
  planTiers,
  remoteHopMs,
  type SegmentChainSpec,
  tierName,
  tierSizes,
} from './tier-planner.ts'
