import { h, headerRow } from '../dom.ts'
import { CONTRIBUTION_EXPLANATION } from './contributions.ts'
import type { DigitAnswer } from './digit-classifier.ts'
import { FIELD, mnistPixels } from './mnist-preprocess.ts'

/** The drawing canvas's size in canvas pixels (shown at the same CSS size, smaller on phones). */
const SIZE = 280
/** About MNIST's stroke width relative to the digit's height. */
const STROKE = 20

/**
 * A canvas to draw a digit on with a mouse, a pen or a finger (pointer events), plus what the
 * room answered for it. Drawing ends a stroke with `onDrawn`, which classifies it.
 */
export class DigitPad {
  readonly element: HTMLElement
  private readonly canvas: HTMLCanvasElement
  private readonly context: CanvasRenderingContext2D
  private readonly preview: HTMLCanvasElement
  private readonly answer: HTMLElement
  private last: { x: number; y: number } | null = null

  constructor(
    private readonly onDrawn: (pixels: Uint8ClampedArray) => void,
    private readonly classes: readonly string[],
  ) {
    this.canvas = h('canvas', {
      width: SIZE,
      height: SIZE,
      class: 'digit-canvas',
      'data-testid': 'digit-canvas',
      'aria-label': 'Draw a digit here',
    })
    const context = this.canvas.getContext('2d', { willReadFrequently: true })
    if (!context) throw new Error('this browser cannot draw on a canvas')
    this.context = context
    this.preview = h('canvas', {
      width: FIELD,
      height: FIELD,
      class: 'digit-preview',
      title: 'What the models see: 28×28, the ink scaled to 20 px and centred by mass',
    })
    this.answer = h(
      'div',
      { 'data-testid': 'digit-answer', 'data-state': 'empty' },
      h('p', { class: 'muted' }, 'Draw a digit: the room answers when you lift the pen.'),
    )
    this.clear()
    this.canvas.addEventListener('pointerdown', (event) => this.down(event))
    this.canvas.addEventListener('pointermove', (event) => this.move(event))
    this.canvas.addEventListener('pointerup', (event) => this.up(event))
    this.canvas.addEventListener('pointercancel', () => {
      this.last = null
    })
    const clear = h(
      'button',
      { class: 'secondary', type: 'button', 'data-testid': 'digit-clear' },
      'Clear',
    )
    clear.addEventListener('click', () => this.clear())
    this.element = h(
      'div',
      { class: 'digit-pad', 'data-testid': 'digit-pad' },
      h('div', { class: 'digit-inputs' }, this.canvas, h('div', {}, this.preview, clear)),
      this.answer,
    )
  }

  /** Wipes the drawing and the answer. */
  clear(): void {
    this.context.fillStyle = '#000'
    this.context.fillRect(0, 0, SIZE, SIZE)
    this.preview.getContext('2d')?.clearRect(0, 0, FIELD, FIELD)
    this.answer.dataset.state = 'empty'
    this.answer.replaceChildren(
      h('p', { class: 'muted' }, 'Draw a digit: the room answers when you lift the pen.'),
    )
  }

  /** The drawing as MNIST's 28×28 field, or null when nothing is drawn. */
  pixels(): Uint8ClampedArray | null {
    const { data } = this.context.getImageData(0, 0, SIZE, SIZE)
    // White ink on black: any channel is the gray level.
    const gray = new Uint8ClampedArray(SIZE * SIZE)
    for (let i = 0; i < gray.length; i++) gray[i] = data[i * 4] ?? 0
    return mnistPixels({ width: SIZE, height: SIZE, pixels: gray })
  }

  /** Shows that the room is working on the drawing. */
  pending(pixels: ArrayLike<number>): void {
    this.showPreview(pixels)
    this.answer.dataset.state = 'pending'
    this.answer.replaceChildren(h('p', { class: 'muted' }, 'Asking the room…'))
  }

  /** Shows the room's answer: the digit, whether it was degraded, and each group's part. */
  show(answer: DigitAnswer): void {
    this.showPreview(answer.pixels)
    this.answer.dataset.state = answer.error ? 'error' : 'answered'
    this.answer.dataset.prediction = answer.prediction === null ? '' : String(answer.prediction)
    this.answer.dataset.degraded = String(answer.degraded)
    if (answer.error || answer.prediction === null) {
      this.answer.replaceChildren(
        h('p', { class: 'bad' }, `No answer: ${answer.error ?? 'unknown'}`),
      )
      return
    }
    const predicted = answer.prediction
    const cell = (value: number | undefined, c: number) =>
      h('td', { class: c === predicted ? 'mono predicted' : 'mono' }, (value ?? 0).toFixed(2))
    const row = (
      label: Node | string,
      scores: readonly number[],
      attributes: Record<string, string | number> = {},
    ) => h('tr', attributes, h('th', {}, label), ...this.classes.map((_, c) => cell(scores[c], c)))
    this.answer.replaceChildren(
      h(
        'p',
        { class: 'digit-result' },
        'The room says ',
        h(
          'strong',
          { 'data-testid': 'digit-prediction' },
          this.classes[predicted] ?? String(predicted),
        ),
        answer.degraded
          ? h(
              'span',
              { class: 'pill', 'data-link': 'closed' },
              ' degraded: a group did not answer, its slice was imputed',
            )
          : h(
              'span',
              { class: 'muted' },
              ` · every group answered · ${(answer.latencyMs ?? 0).toFixed(1)} ms · K = ${answer.k}`,
            ),
      ),
      h(
        'table',
        { class: 'contributions', 'data-testid': 'digit-contributions' },
        headerRow('class', ...this.classes),
        h(
          'tbody',
          {},
          row('baseline (no input)', answer.baseline),
          ...answer.groups.map((group) =>
            row(
              `group ${group.slice} · ${group.imputed ? 'imputed' : (group.deviceId ?? '?')}`,
              group.scores,
              { 'data-group': group.slice, 'data-imputed': String(group.imputed) },
            ),
          ),
          row(h('strong', {}, 'answer scores'), answer.logits, { 'data-total': '' }),
        ),
      ),
      h('p', { class: 'muted' }, CONTRIBUTION_EXPLANATION),
    )
  }

  private showPreview(pixels: ArrayLike<number>): void {
    const context = this.preview.getContext('2d')
    if (!context || pixels.length !== FIELD * FIELD) return
    const image = context.createImageData(FIELD, FIELD)
    for (let i = 0; i < FIELD * FIELD; i++) {
      const value = pixels[i] ?? 0
      image.data.set([value, value, value, 255], i * 4)
    }
    context.putImageData(image, 0, 0)
  }

  private point(event: PointerEvent) {
    const rect = this.canvas.getBoundingClientRect()
    return {
      x: ((event.clientX - rect.left) * SIZE) / rect.width,
      y: ((event.clientY - rect.top) * SIZE) / rect.height,
    }
  }

  private down(event: PointerEvent): void {
    event.preventDefault()
    this.canvas.setPointerCapture(event.pointerId)
    this.last = this.point(event)
    this.stroke(this.last)
  }

  private move(event: PointerEvent): void {
    if (!this.last) return
    const next = this.point(event)
    this.stroke(next)
    this.last = next
  }

  private up(event: PointerEvent): void {
    if (!this.last) return
    this.move(event)
    this.last = null
    const pixels = this.pixels()
    if (pixels) this.onDrawn(pixels)
  }

  private stroke(to: { x: number; y: number }): void {
    const from = this.last ?? to
    const context = this.context
    context.strokeStyle = '#fff'
    context.lineWidth = STROKE
    context.lineCap = 'round'
    context.lineJoin = 'round'
    context.beginPath()
    context.moveTo(from.x, from.y)
    context.lineTo(to.x, to.y)
    context.stroke()
  }
}
