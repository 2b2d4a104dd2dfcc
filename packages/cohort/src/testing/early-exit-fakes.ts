import type { HandlerReply, IncomingRequest, Mesh, RpcHandler } from '@cohort/mesh'
import {
  CohortError,
  type DeviceId,
  err,
  type Manifest,
  type ModelEntry,
  ok,
  type Plan,
  type TensorFrame,
  toCohortError,
} from '@cohort/protocol'
import type { Float32TensorData, ModelRunner } from '../model-runner.ts'
import { plannedDevices } from './planned-devices.ts'

/**
 * Fakes for early-exit tests: a three-segment manifest, a runner whose segments exit where the
 * sample says (its first pixel is the 1-based segment that becomes confident), and an in-memory
 * room whose devices serve hops and can be made dead or silent.
 */

const CLASSES = 10
const H1: [number, number, number] = [4, 2, 2]
const H2: [number, number, number] = [8, 2, 2]

const model = (
  id: string,
  index: number,
  macs: number,
  input: ModelEntry['inputs'][number],
  outputs: ModelEntry['outputs'],
): ModelEntry => ({
  id,
  file: `models/fake/${id}.onnx`,
  bytes: 1,
  sha256: '0'.repeat(64),
  macs,
  params: 1,
  role: { kind: 'segment', index, of: 3 },
  inputs: [input],
  outputs,
})

/** A task with a 3-segment early-exit chain (activations h1 [4,2,2], h2 [8,2,2]). */
export function fakeManifest(thresholds: readonly number[] = [0.5, 0.5]): Manifest {
  const logits = { name: 'logits', dtype: 'float32' as const, shape: ['batch' as const, CLASSES] }
  const split = <T>(value: T) => ({ validation: value, test: value, sample: value })
  return {
    schemaVersion: 1,
    task: 'fake',
    classes: Array.from({ length: CLASSES }, (_, i) => String(i)),
    input: {
      name: 'input',
      dtype: 'float32',
      shape: ['batch', 1, 2, 2],
      layout: 'NCHW',
      pixelScale: 1 / 255,
      preprocessing: '',
      normalization: { mean: 0, std: 1 },
    },
    dataset: { source: '', seed: 0, train: 1, validation: 1, test: 1 },
    models: [
      model(
        'segment-1',
        1,
        1_000_000,
        { name: 'input', dtype: 'float32', shape: ['batch', 1, 2, 2] },
        [{ name: 'h1', dtype: 'float32', shape: ['batch', ...H1] }, logits],
      ),
      model('segment-2', 2, 2_000_000, { name: 'h1', dtype: 'float32', shape: ['batch', ...H1] }, [
        { name: 'h2', dtype: 'float32', shape: ['batch', ...H2] },
        logits,
      ]),
      model('segment-3', 3, 4_000_000, { name: 'h2', dtype: 'float32', shape: ['batch', ...H2] }, [
        logits,
      ]),
    ],
    teacher: { model: 'segment-3', featureDim: 1, accuracy: { test: 90, sample: 90 } },
    ensembles: [],
    earlyExit: {
      segments: ['segment-1', 'segment-2', 'segment-3'],
      exits: ['segment-1', 'segment-2', 'segment-3'].map((segment) => ({
        segment,
        accuracy: { test: 90, sample: 90 },
      })),
      confidence: 'max softmax',
      thresholds: [...thresholds],
      quantization: { scheme: 'uint8-minmax-per-sample', description: '' },
      activations: [
        { name: 'h1', from: 'segment-1', to: 'segment-2', shape: H1 },
        { name: 'h2', from: 'segment-2', to: 'segment-3', shape: H2 },
      ],
      cost: {
        lambdaPerMMac: 1,
        offload: 5,
        segmentMacs: [1_000_000, 2_000_000, 4_000_000],
        cloudOnly: 12,
        description: '',
      },
      // Nothing here reads how the thresholds were calibrated; the cast keeps the fake valid while
      // the calibration record's fields evolve with training.
      calibration: {
        split: 'validation',
        method: '',
      } as unknown as Manifest['earlyExit']['calibration'],
      calibrated: {
        accuracy: split(90),
        finalExitAccuracy: split(90),
        dropPt: split(0),
        expectedCost: split(1),
        costReduction: split(0.9),
        exitFractions: split([1, 0, 0]),
      },
    },
    data: {
      sample: {
        file: 'data/x.bin',
        bytes: 1,
        sha256: '0'.repeat(64),
        count: 1,
        format: '',
        selection: '',
      },
      reference: {
        file: 'data/y.bin',
        bytes: 1,
        sha256: '0'.repeat(64),
        count: 1,
        format: '',
        inputs: '',
        entries: [],
      },
    },
    training: { torch: '', onnx: '', opset: 17, python: '', secondsPerStage: {} },
  }
}

/** The class a fake sample answers with. */
export const fakeClass = (exitSegment: number): number => (exitSegment * 3) % CLASSES

/** A fake input whose first value says which 1-based segment is confident (4: none). */
export const fakeInput = (exitSegment: number): Float32Array =>
  Float32Array.of(exitSegment, 0, 0, 0)

/**
 * Segment k carries the sample's "confident segment" d through its activation (a constant
 * tensor, which quantizes exactly) and answers class fakeClass(d) with confidence ~1 when k >= d,
 * uniform logits otherwise. `runs` counts runs per segment.
 */
export function fakeRunner(computeMs = 0.5): ModelRunner & { readonly runs: Map<string, number> } {
  const runs = new Map<string, number>()
  return {
    runs,
    async run(modelId, inputs) {
      runs.set(modelId, (runs.get(modelId) ?? 0) + 1)
      const k = Number(modelId.slice('segment-'.length))
      const input = Object.values(inputs)[0] as Float32TensorData
      const d = input.data[0] ?? 0
      const logits = new Float32Array(CLASSES)
      if (k >= d) logits[fakeClass(d)] = 20
      const outputs: Record<string, Float32TensorData> = {
        logits: { data: logits, dims: [1, CLASSES] },
      }
      const next = k === 1 ? H1 : k === 2 ? H2 : null
      if (next) {
        const size = next.reduce((a, b) => a * b, 1)
        outputs[k === 1 ? 'h1' : 'h2'] = {
          data: new Float32Array(size).fill(d),
          dims: [1, ...next],
        }
      }
      return { outputs, timings: { runMs: computeMs, queuedMs: 0 } }
    },
  }
}

/** How a fake device behaves. */
export type FakeState = 'up' | 'dead' | 'silent'

/** An in-memory room: each device's handlers, reachable through `requestFrom(sender)`. */
export class FakeRoom {
  readonly handlers = new Map<DeviceId, RpcHandler>()
  readonly states = new Map<DeviceId, FakeState>()
  /** Requests received per device. */
  readonly received = new Map<DeviceId, number>()

  /** A device's `request`, as its mesh would offer it. */
  requestFrom(from: DeviceId): Mesh['request'] {
    return (peerId, method, tensors, options) => {
      const handler = this.handlers.get(peerId)
      const state = this.states.get(peerId) ?? 'up'
      if (!handler || state === 'dead')
        return Promise.resolve(err(new CohortError('not-connected', `no open link to ${peerId}`)))
      this.received.set(peerId, (this.received.get(peerId) ?? 0) + 1)
      const startedAt = performance.now()
      return new Promise((resolve) => {
        const controller = new AbortController()
        const finish = (outcome: Awaited<ReturnType<Mesh['request']>>) => {
          clearTimeout(timer)
          options.signal?.removeEventListener('abort', onAbort)
          controller.abort()
          resolve(outcome)
        }
        const onAbort = () => finish(err(new CohortError('cancelled', 'cancelled')))
        const timer = setTimeout(
          () => finish(err(new CohortError('timeout', `${method} to ${peerId} timed out`))),
          options.deadlineMs,
        )
        options.signal?.addEventListener('abort', onAbort, { once: true })
        if (state === 'silent') return
        const frames = tensors.map(
          (t) => ({ ...t, requestId: 'r1', kind: 'request' }) as TensorFrame,
        )
        const request: IncomingRequest = {
          from,
          method,
          frames,
          payload: options.payload,
          deadlineMs: options.deadlineMs,
          signal: controller.signal,
        }
        handler(request).then(
          (reply: HandlerReply) =>
            finish(
              ok({
                frames: reply.frames.map(
                  (t) => ({ ...t, requestId: 'r1', kind: 'response' }) as TensorFrame,
                ),
                timings: { serveMs: 0, ...reply.timings },
                // Through JSON, as the meta carries it.
                payload:
                  reply.payload === undefined
                    ? undefined
                    : JSON.parse(JSON.stringify(reply.payload)),
                roundTripMs: performance.now() - startedAt,
              }),
            ),
          (error: unknown) => finish(err(toCohortError(error, 'handler-failed'))),
        )
      })
    }
  }
}

/** A plan whose early-exit tiers are `edge` and `cloud` (best first), each hop predicted at `ms`. */
export function fakePlan(edge: readonly string[], cloud: readonly string[], ms = 1): Plan {
  const tier = (name: 'edge' | 'cloud', segment: string, members: readonly string[]) => ({
    tier: name,
    segment,
    members: members as DeviceId[],
    memberMs: members.map(() => ms),
    predictedMs: ms,
  })
  return {
    version: 7,
    task: 'fake',
    createdAt: 0,
    models: [],
    devices: plannedDevices([...edge, ...cloud] as DeviceId[]),
    ensemble: null,
    earlyExit: {
      segments: ['segment-1', 'segment-2', 'segment-3'],
      tiers: [tier('edge', 'segment-2', edge), tier('cloud', 'segment-3', cloud)],
      thresholds: [0.5, 0.5],
      expectedRemoteMs: ms,
      capacityRps: 1_000,
      explanation: [],
    },
  }
}
