import { type Manifest, parseSampleSet, type SampleSet } from '@cohort/protocol'

// One download per sample file for the whole page: both the ensemble and the early-exit runs use it.
const loaded = new Map<string, Promise<SampleSet>>()

/** The task's shipped test samples (fetched and parsed once per page). */
export function loadTaskSamples(manifest: Manifest): Promise<SampleSet> {
  const file = manifest.data.sample.file
  let samples = loaded.get(file)
  if (!samples) {
    samples = (async () => {
      const response = await fetch(`/${file}`)
      if (!response.ok) throw new Error(`${file} answered ${response.status}`)
      const parsed = parseSampleSet(new Uint8Array(await response.arrayBuffer()))
      if (!parsed.ok) throw new Error(parsed.error)
      return parsed.value
    })()
    // A failed download is not remembered: the next run tries again.
    samples.catch(() => loaded.delete(file))
    loaded.set(file, samples)
  }
  return samples
}
