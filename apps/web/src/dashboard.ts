import { formatRoomCode, type RoomCode } from '@cohort/protocol'
import QRCode from 'qrcode'
import { frameScheduler, h, mount } from './dom.ts'
import { loadHostKey } from './identity.ts'
import { joinAsMember } from './member-page.ts'
import { peersTable } from './peers-view.ts'
import { STATUS_TEXT } from './status-text.ts'

/** The host's view of a room: how to join, and who is in it. */
export function showDashboard(root: HTMLElement, room: RoomCode): void {
  const hostKey = loadHostKey(room)
  if (!hostKey) {
    mount(
      root,
      h('h1', {}, 'Not your room'),
      h(
        'p',
        {},
        'This browser did not create this room, so it cannot host it. ',
        h('a', { href: `/r/${room}` }, 'Join it as a device instead'),
        '.',
      ),
    )
    return
  }
  const mesh = joinAsMember(room, 'host', hostKey)
  const joinUrl = `${location.origin}/r/${room}`
  const qr = h('img', { alt: `QR code for ${joinUrl}`, 'data-testid': 'join-qr' })
  QRCode.toDataURL(joinUrl, { margin: 1, width: 512 })
    .then((url) => {
      qr.src = url
    })
    .catch((error: unknown) => console.warn('cohort: could not draw the QR code', error))
  const joinCard = h(
    'section',
    { class: 'card join' },
    qr,
    h(
      'div',
      {},
      h('p', { class: 'muted' }, 'Scan, or open on any device on this network:'),
      h(
        'p',
        { class: 'url' },
        h('a', { href: joinUrl, 'data-testid': 'join-url', target: '_blank' }, joinUrl),
      ),
      h('p', { class: 'muted' }, 'Room code'),
      h('p', { class: 'code mono' }, formatRoomCode(room)),
    ),
  )
  const liveCard = h('div')

  const render = () => {
    const state = mesh.signalingState
    const devices = mesh.peers().filter((peer) => peer.info.role === 'device')
    mount(
      liveCard,
      h(
        'div',
        { class: 'status', 'data-testid': 'status', 'data-state': state },
        STATUS_TEXT[state],
      ),
      h('h2', {}, `Devices (${devices.length})`),
      h(
        'section',
        { class: 'card', 'data-testid': 'devices' },
        peersTable(devices, 'Waiting for devices to join…'),
      ),
    )
  }
  mount(root, h('h1', {}, 'Cohort room'), joinCard, liveCard)
  const scheduleRender = frameScheduler(render)
  mesh.subscribe(scheduleRender)
  render()
}
