/** A grayscale image: one value per pixel, row-major, 0 = background, 255 = full ink. */
export interface GrayImage {
  readonly width: number
  readonly height: number
  readonly pixels: ArrayLike<number>
}

/** MNIST's field and the box its digits are scaled into. */
export const FIELD = 28
const BOX = 20

/**
 * Prepares a drawing the way MNIST's digits were prepared (LeCun et al.): the ink's bounding box
 * is scaled, keeping its aspect ratio, so its longer side is 20 px (area-averaged, which gives
 * the grey anti-aliased edges the models were trained on), then placed in a 28×28 field so that
 * its centre of mass sits at the field's centre. Returns 784 grayscale pixels (0–255, row-major),
 * or null when nothing is drawn.
 */
export function mnistPixels(image: GrayImage): Uint8ClampedArray | null {
  const box = inkBox(image)
  if (!box) return null
  const scale = BOX / Math.max(box.width, box.height)
  const width = Math.max(1, Math.round(box.width * scale))
  const height = Math.max(1, Math.round(box.height * scale))
  const columns = axisWeights(box.x, box.width, width)
  const rows = axisWeights(box.y, box.height, height)
  const scaled = new Float64Array(width * height)
  let mass = 0
  let massX = 0
  let massY = 0
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let value = 0
      for (const [sy, wy] of rows[y] ?? []) {
        for (const [sx, wx] of columns[x] ?? []) {
          value += (image.pixels[sy * image.width + sx] ?? 0) * wy * wx
        }
      }
      scaled[y * width + x] = value
      mass += value
      massX += value * (x + 0.5)
      massY += value * (y + 0.5)
    }
  }
  if (mass === 0) return null
  const offsetX = Math.round(FIELD / 2 - massX / mass)
  const offsetY = Math.round(FIELD / 2 - massY / mass)
  const field = new Uint8ClampedArray(FIELD * FIELD)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const fx = x + offsetX
      const fy = y + offsetY
      if (fx < 0 || fy < 0 || fx >= FIELD || fy >= FIELD) continue
      field[fy * FIELD + fx] = Math.round(scaled[y * width + x] ?? 0)
    }
  }
  return field
}

/** The smallest rectangle holding every inked pixel, or null for a blank image. */
function inkBox(image: GrayImage) {
  let left = image.width
  let top = image.height
  let right = -1
  let bottom = -1
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      if ((image.pixels[y * image.width + x] ?? 0) <= 0) continue
      left = Math.min(left, x)
      right = Math.max(right, x)
      top = Math.min(top, y)
      bottom = Math.max(bottom, y)
    }
  }
  if (right < 0) return null
  return { x: left, y: top, width: right - left + 1, height: bottom - top + 1 }
}

/**
 * For each of `count` target cells along an axis, the source cells in [start, start + length)
 * it covers and by what share (area averaging; each target's shares sum to 1).
 */
function axisWeights(start: number, length: number, count: number): [number, number][][] {
  const step = length / count
  return Array.from({ length: count }, (_, target) => {
    const from = start + target * step
    const to = from + step
    const cells: [number, number][] = []
    for (let source = Math.floor(from); source < Math.ceil(to); source++) {
      const overlap = Math.min(to, source + 1) - Math.max(from, source)
      if (overlap > 0) cells.push([source, overlap / step])
    }
    return cells
  })
}
