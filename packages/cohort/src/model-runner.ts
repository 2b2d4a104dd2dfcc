/** A float32 tensor as the runtime takes and returns it. */
export interface Float32TensorData {
  readonly data: Float32Array
  readonly dims: readonly number[]
}

/**
 * What cohort needs of a local runtime: run a loaded model. The page's RuntimeClient (a Web
 * Worker with onnxruntime-web) is one; unit tests of pure logic use a small fake.
 */
export interface ModelRunner {
  run(
    modelId: string,
    inputs: Readonly<Record<string, Float32TensorData>>,
    options?: { readonly signal?: AbortSignal },
  ): Promise<{
    readonly outputs: Readonly<Record<string, Float32TensorData>>
    readonly timings: {
      readonly runMs: number
      readonly queuedMs: number
      readonly batchSize?: number
    }
  }>
}
