import type { IncomingRequest, RpcHandler } from '@cohort/mesh'
import {
  CohortError,
  findModel,
  type Manifest,
  RUN_MODEL_METHOD,
  RunModelParamsSchema,
  type Tensor,
} from '@cohort/protocol'
import type { Float32TensorData, ModelRunner } from './model-runner.ts'
import type { ModelHolder } from './planned-models.ts'

/**
 * A device's handler for `run-model`: validates the model id and the input tensors against the
 * manifest, runs the model in the local runtime, and answers with every output, named as in the
 * manifest, plus the compute time. A model the device has not loaded is loaded first (on demand).
 */
export function modelServer(
  manifest: Manifest,
  runner: ModelRunner,
  models: ModelHolder,
): RpcHandler {
  return async (request: IncomingRequest) => {
    const params = RunModelParamsSchema.safeParse(request.payload)
    if (!params.success)
      throw new CohortError('bad-message', `${RUN_MODEL_METHOD} needs { model: <model id> }`)
    const modelId = params.data.model
    const entry = findModel(manifest, modelId)
    if (!entry)
      throw new CohortError('bad-message', `${modelId} is not a model of task ${manifest.task}`)
    const inputs: Record<string, Float32TensorData> = {}
    for (const spec of entry.inputs) {
      const frame = request.frames.find((candidate) => candidate.name === spec.name)
      if (frame?.dtype !== 'float32') {
        throw new CohortError('bad-input', `${modelId} needs a float32 tensor named ${spec.name}`)
      }
      const fits =
        frame.dims.length === spec.shape.length &&
        spec.shape.every((dim, axis) =>
          dim === 'batch' ? (frame.dims[axis] ?? 0) >= 1 : frame.dims[axis] === dim,
        )
      if (!fits) {
        throw new CohortError(
          'bad-input',
          `${spec.name} has shape ${JSON.stringify(frame.dims)}, ${modelId} takes ${JSON.stringify(spec.shape)}`,
        )
      }
      inputs[spec.name] = { data: frame.data, dims: frame.dims }
    }
    const release = await models.hold(modelId, request.signal)
    const result = await runner.run(modelId, inputs, { signal: request.signal }).finally(release)
    const frames: Tensor[] = entry.outputs.flatMap((spec) => {
      const output = result.outputs[spec.name]
      return output
        ? [
            {
              name: spec.name,
              dtype: 'float32' as const,
              dims: [...output.dims],
              data: output.data,
            },
          ]
        : []
    })
    return {
      frames,
      timings: {
        computeMs: result.timings.runMs,
        queuedMs: result.timings.queuedMs,
        // computeMs is the whole batch's when several requests shared the run.
        batchSize: result.timings.batchSize ?? 1,
      },
    }
  }
}
