import { createRoom } from '@cohort/mesh'
import { normalizeRoomCode } from '@cohort/protocol'
import { h, mount } from './dom.ts'
import { saveHostKey } from './identity.ts'

/** The start page: create a room to host, or type a code to join one. */
export function showLanding(root: HTMLElement): void {
  const message = h('p', { class: 'muted', 'data-testid': 'landing-message' })
  const createButton = h('button', { 'data-testid': 'create-room' }, 'Create a room')
  createButton.addEventListener('click', () => {
    createButton.disabled = true
    message.textContent = 'Creating a room…'
    void createRoom().then((created) => {
      if (!created.ok) {
        createButton.disabled = false
        message.textContent = `Could not create a room: ${created.error.message}`
        return
      }
      saveHostKey(created.value.room, created.value.hostKey)
      location.assign(`/host/${created.value.room}`)
    })
  })
  const codeInput = h('input', {
    name: 'code',
    placeholder: 'Room code, e.g. 7K3M-…',
    autocomplete: 'off',
    'aria-label': 'Room code',
  })
  const joinForm = h(
    'form',
    { class: 'row' },
    codeInput,
    h('button', { type: 'submit', class: 'secondary' }, 'Join'),
  )
  joinForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const room = normalizeRoomCode(codeInput.value)
    if (room) location.assign(`/r/${room}`)
    else message.textContent = 'That is not a room code: it has 13 letters and digits.'
  })
  mount(
    root,
    h('h1', {}, 'Cohort'),
    h(
      'p',
      { class: 'lead' },
      'Turn the browsers in this room into one failure-resilient inference engine.',
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Host'),
      h('p', {}, 'Start a room and show its QR code.'),
      createButton,
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Join'),
      h('p', {}, 'Scan the host’s QR code, or type the room code.'),
      joinForm,
    ),
    message,
  )
}
