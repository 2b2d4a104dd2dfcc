import { CohortError, type Manifest } from '@cohort/protocol'
import jpeg from 'jpeg-js'
import { PNG } from 'pngjs'

/** An image's pixels: RGBA, row-major. */
interface Rgba {
  readonly width: number
  readonly height: number
  readonly data: Uint8Array
}

/** The largest image the gateway decodes (pixels), so a small file cannot claim a huge canvas. */
export const MAX_IMAGE_PIXELS = 4096 * 4096

/** Decodes a PNG or JPEG; a typed `bad-input` error for anything else or anything broken. */
export function decodeImage(bytes: Uint8Array, type: 'image/png' | 'image/jpeg'): Rgba {
  try {
    if (type === 'image/png') {
      const png = PNG.sync.read(Buffer.from(bytes))
      return { width: png.width, height: png.height, data: png.data }
    }
    const image = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
      maxMemoryUsageInMB: 256,
    })
    return { width: image.width, height: image.height, data: image.data }
  } catch (error) {
    throw new CohortError(
      'bad-input',
      `not a readable ${type === 'image/png' ? 'PNG' : 'JPEG'}: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
}

/**
 * An image as the task's input, the same way the drop-image example prepares one: scaled to the
 * input's size (each output pixel the mean of the source pixels it covers), grey levels, light on
 * dark like the training data (a mostly light image is flipped), times the manifest's pixel scale.
 */
export function imageToInput(image: Rgba, manifest: Manifest): Float32Array {
  const [, channels, height, width] = manifest.input.shape
  if (channels !== 1 || typeof height !== 'number' || typeof width !== 'number') {
    throw new CohortError('bad-input', 'this task does not take grey images')
  }
  if (image.width < 1 || image.height < 1 || image.width * image.height > MAX_IMAGE_PIXELS) {
    throw new CohortError(
      'bad-input',
      `images must have 1 to ${MAX_IMAGE_PIXELS} pixels, not ${image.width}×${image.height}`,
    )
  }
  const grey = new Float32Array(width * height)
  for (let y = 0; y < height; y++) {
    const y0 = Math.floor((y * image.height) / height)
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * image.height) / height))
    for (let x = 0; x < width; x++) {
      const x0 = Math.floor((x * image.width) / width)
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * image.width) / width))
      let sum = 0
      for (let sy = y0; sy < y1; sy++) {
        for (let sx = x0; sx < x1; sx++) {
          const i = 4 * (sy * image.width + sx)
          sum +=
            0.299 * (image.data[i] ?? 0) +
            0.587 * (image.data[i + 1] ?? 0) +
            0.114 * (image.data[i + 2] ?? 0)
        }
      }
      grey[y * width + x] = sum / ((y1 - y0) * (x1 - x0))
    }
  }
  const mean = grey.reduce((total, v) => total + v, 0) / grey.length
  return grey.map((v) => (mean > 127 ? 255 - v : v) * manifest.input.pixelScale)
}
