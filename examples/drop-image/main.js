// A page of your own that sends work to a Cohort room: open it as
// http://<coordinator>/examples/drop-image/index.html?room=<code> (the code the dashboard shows).
import { joinRoom } from '/client.js'

const $ = (id) => document.getElementById(id)
const code = new URLSearchParams(location.search).get('room') ?? ''
const room = await joinRoom(code, { label: 'drop-an-image example' }).catch((error) => {
  $('status').textContent = `Could not join room “${code}”: ${error.message}`
  throw error
})
// For tests and the console: the joined room, with infer() and stream().
window.cohortExample = room
$('status').textContent = 'Joined; waiting for the room to be planned…'
await room.whenPlanned()
$('status').textContent =
  `Ready: room ${room.room}, ${room.manifest.task} (${room.manifest.classes.join(', ')})`

/** The image as the task's input: 28×28 grey levels, light on dark like the training data. */
async function toInput(file) {
  const [, height, width] = room.manifest.input.shape.slice(1)
  const context = $('preview').getContext('2d', { willReadFrequently: true })
  context.drawImage(await createImageBitmap(file), 0, 0, width, height)
  const { data } = context.getImageData(0, 0, width, height)
  const grey = Float32Array.from({ length: width * height }, (_, i) => {
    const [r, g, b] = data.subarray(4 * i, 4 * i + 3)
    return 0.299 * r + 0.587 * g + 0.114 * b
  })
  // Photos are usually dark on light: flip them to match the dataset.
  const mean = grey.reduce((sum, v) => sum + v, 0) / grey.length
  return grey.map((v) => (mean > 127 ? 255 - v : v) * room.manifest.input.pixelScale)
}

/** Answers one image (errors are shown, never thrown: an outcome is an answer or a typed error). */
async function classify(file) {
  if (!file) return
  $('answer').textContent = '…'
  const input = await toInput(file).catch(() => null)
  if (!input) {
    $('answer').textContent = `${file.name} is not an image this browser can read`
    return
  }
  const outcome = await room.infer(input, { mode: 'ensemble', deadlineMs: 2000 })
  $('answer').textContent = outcome.ok
    ? `${room.manifest.classes[outcome.value.prediction]}${outcome.value.degraded ? ' (degraded)' : ''} · ${outcome.value.latencyMs.toFixed(1)} ms`
    : `No answer: ${outcome.error.code}: ${outcome.error.message}`
}

$('file').addEventListener('change', () => void classify($('file').files[0]))
$('drop').addEventListener('dragover', (event) => {
  event.preventDefault()
  $('drop').classList.add('over')
})
$('drop').addEventListener('dragleave', () => $('drop').classList.remove('over'))
$('drop').addEventListener('drop', (event) => {
  event.preventDefault()
  $('drop').classList.remove('over')
  void classify(event.dataTransfer.files[0])
})
