/**
 * Writes the gateway example's test images: the first sample of a few Fashion-MNIST classes from
 * the shipped test sample, as 28×28 PNGs (light on dark, as the dataset is). Run from the repo
 * root: `node --import tsx examples/gateway/make-images.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { parseManifest, parseSampleSet } from '@cohort/protocol'
import { PNG } from 'pngjs'

const manifest = parseManifest(
  JSON.parse(readFileSync('public/models/fashion/manifest.json', 'utf8')),
)
if (!manifest.ok) throw new Error(manifest.error)
const set = parseSampleSet(
  new Uint8Array(readFileSync(`public/${manifest.value.data.sample.file}`)),
)
if (!set.ok) throw new Error(set.error)
const { width, height, pixels, labels } = set.value
for (const name of ['Trouser', 'Bag', 'Ankle boot']) {
  const label = manifest.value.classes.indexOf(name)
  const index = labels.indexOf(label)
  const png = new PNG({ width, height })
  for (let i = 0; i < width * height; i++) {
    const grey = pixels[index * width * height + i] ?? 0
    png.data.set([grey, grey, grey, 255], 4 * i)
  }
  const file = `examples/gateway/${name.toLowerCase().replace(' ', '-')}.png`
  writeFileSync(file, PNG.sync.write(png))
  console.log(`${file}: sample ${index}, ${name}`)
}
