import { formatRoomCode, type RoomCode } from '@cohort/protocol'
import { frameScheduler, h, mount } from './dom.ts'
import { forgetResumeToken } from './identity.ts'
import { joinAsMember } from './member-page.ts'
import { peersTable } from './peers-view.ts'
import { STATUS_TEXT } from './status-text.ts'

/** The page a phone opens from the join URL: it becomes a device of the room. */
export function showDevicePage(root: HTMLElement, room: RoomCode): void {
  const mesh = joinAsMember(room, 'device')
  let failure: string | null = null
  let left = false

  const leave = () => {
    left = true
    mesh.leave()
    forgetResumeToken(room, 'device')
    render()
  }

  const render = () => {
    const state = left ? 'closed' : mesh.signalingState
    const self = mesh.self
    mount(
      root,
      h('h1', {}, 'Cohort device'),
      h(
        'section',
        { class: 'card' },
        h(
          'div',
          { class: 'status', 'data-testid': 'status', 'data-state': state },
          STATUS_TEXT[state],
        ),
        failure
          ? h(
              'p',
              { 'data-testid': 'failure' },
              failure,
              ' ',
              h('a', { href: '/' }, 'Back to the start page'),
            )
          : null,
        h(
          'p',
          { class: 'muted' },
          'Room ',
          h('span', { class: 'mono' }, formatRoomCode(room)),
          self ? ' · you are ' : '',
          self ? h('span', { class: 'mono', 'data-testid': 'device-id' }, self.deviceId) : '',
        ),
        left ? null : h('button', { class: 'secondary', onclick: leave }, 'Leave'),
      ),
      h('h2', {}, 'Peers'),
      h('section', { class: 'card' }, peersTable(mesh.peers(), 'No other devices yet.')),
    )
  }
  const scheduleRender = frameScheduler(render)
  mesh.subscribe((event) => {
    if (event.type === 'signaling' && event.error) failure = event.error.message
    scheduleRender()
  })
  render()
}
