import type { Outcome, Requester, StreamOptions } from '@cohort/cohort'
import { type SampleSet, sampleInput } from '@cohort/protocol'

/** Which of a task's shipped test samples a run sends, and how. */
export interface SampleStreamOptions extends StreamOptions {
  /** First sample index (default 0). */
  readonly start?: number
  readonly samples: number
}

/**
 * The one run loop of every mode: streams the task's shipped test samples `[start, start +
 * samples)` through the requester, `window` in flight, and hands each outcome (in sample order) to
 * `record`, which shapes it as its mode's run keeps it; `each` sees every record as it comes.
 * `latencyMs` is the request's own latency for an answer, and for an error the time from its
 * start until the stream yielded it.
 */
export async function streamSamples<T>(
  requester: Requester,
  set: SampleSet,
  options: SampleStreamOptions,
  record: (index: number, label: number, outcome: Outcome, latencyMs: number) => T,
  each: (record: T) => void,
): Promise<T[]> {
  const start = Math.max(0, options.start ?? 0)
  const end = Math.min(set.count, start + Math.max(0, options.samples))
  const pixelScale = requester.manifest.input.pixelScale
  const startedAt: number[] = []
  function* inputs(): Generator<Float32Array> {
    for (let index = start; index < end; index++) {
      // Pulled by the stream just before the request starts.
      startedAt.push(performance.now())
      yield sampleInput(set, index, 1, pixelScale)
    }
  }
  const records: T[] = []
  let index = start
  for await (const outcome of requester.stream(inputs(), options)) {
    const latencyMs = outcome.ok
      ? outcome.value.latencyMs
      : performance.now() - (startedAt[index - start] ?? 0)
    const shaped = record(index, set.labels[index] ?? 0, outcome, latencyMs)
    records.push(shaped)
    each(shaped)
    index++
  }
  return records
}

/** How an outcome's error reads in a run's records and the event log. */
export function describe(error: { readonly code: string; readonly message: string }): string {
  return `${error.code}: ${error.message}`
}
