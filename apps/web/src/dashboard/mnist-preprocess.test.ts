import { describe, expect, it } from 'vitest'
import { FIELD, type GrayImage, mnistPixels } from './mnist-preprocess.ts'

/** A blank image with `ink` rectangles (x, y, width, height) at full intensity. */
function image(width: number, height: number, ink: [number, number, number, number][]): GrayImage {
  const pixels = new Uint8ClampedArray(width * height)
  for (const [x0, y0, w, h] of ink) {
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) pixels[y * width + x] = 255
  }
  return { width, height, pixels }
}

/** Bounding box and centre of mass of a 28×28 result. */
function measure(field: Uint8ClampedArray) {
  let mass = 0
  let mx = 0
  let my = 0
  let left = FIELD
  let right = -1
  let top = FIELD
  let bottom = -1
  field.forEach((value, i) => {
    if (value === 0) return
    const x = i % FIELD
    const y = Math.floor(i / FIELD)
    mass += value
    mx += value * (x + 0.5)
    my += value * (y + 0.5)
    left = Math.min(left, x)
    right = Math.max(right, x)
    top = Math.min(top, y)
    bottom = Math.max(bottom, y)
  })
  return { width: right - left + 1, height: bottom - top + 1, cx: mx / mass, cy: my / mass, mass }
}

describe('mnistPixels', () => {
  it('is null for a blank drawing', () => {
    expect(mnistPixels(image(50, 50, []))).toBeNull()
  })

  it('scales the ink box so its longer side is 20 px, keeping the aspect ratio', () => {
    // A 40×200 bar in the corner of a 280×280 canvas becomes a 4×20 bar.
    const field = mnistPixels(image(280, 280, [[5, 60, 40, 200]]))
    if (!field) throw new Error('no field')
    const { width, height } = measure(field)
    expect(height).toBe(20)
    expect(width).toBe(4)
    expect(Math.max(...field)).toBe(255)
  })

  it('centres the ink by mass, not by its box', () => {
    // An L: a heavy foot pulls the centre of mass down and right of the box's centre.
    const field = mnistPixels(
      image(100, 100, [
        [10, 10, 10, 80],
        [10, 70, 80, 20],
      ]),
    )
    if (!field) throw new Error('no field')
    const { cx, cy } = measure(field)
    expect(Math.abs(cx - FIELD / 2)).toBeLessThanOrEqual(0.5)
    expect(Math.abs(cy - FIELD / 2)).toBeLessThanOrEqual(0.5)
  })

  it('area-averages: total ink is preserved in proportion to the area scale', () => {
    // A 100×100 filled square scaled by 1/5 keeps 1/25 of its ink.
    const field = mnistPixels(image(120, 120, [[10, 10, 100, 100]]))
    if (!field) throw new Error('no field')
    expect(measure(field).mass).toBe(255 * 400)
    // Ink edges that fall inside a target cell give grey values, never values outside 0..255.
    const odd = mnistPixels(
      image(120, 120, [
        [3, 3, 33, 77],
        [36, 3, 4, 4],
      ]),
    )
    if (!odd) throw new Error('no field')
    expect(odd.some((value) => value > 0 && value < 255)).toBe(true)
  })
})
