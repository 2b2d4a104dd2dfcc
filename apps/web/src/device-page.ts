import { formatRoomCode, type RoomCode } from '@cohort/protocol'
import { type ServingState, serveAsDevice } from './device-role.ts'
import type { RuntimeState } from './device-runtime.ts'
import { frameScheduler, h, mount } from './dom.ts'
import { forgetResumeToken } from './identity.ts'
import { joinAsMember } from './member-page.ts'
import { modelsView } from './models-view.ts'
import { peersTable } from './peers-view.ts'
import { STATUS_TEXT } from './status-text.ts'
import { taskFromUrl } from './task.ts'

/** The page a phone opens from the join URL: it becomes a device of the room. */
export function showDevicePage(root: HTMLElement, room: RoomCode): void {
  const mesh = joinAsMember(room, 'device')
  let failure: string | null = null
  let left = false
  const task = taskFromUrl()
  // The Models section renders on its own schedule into one element that every page render keeps.
  const models = h('div', { 'data-testid': 'models-slot' })
  let runtimeState: RuntimeState | null = null
  let serving: ServingState | null = null
  let runtimeLoadError: string | null = null
  const renderModels = () => mount(models, modelsView(runtimeState, task, runtimeLoadError))

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
        serving
          ? h(
              'p',
              { 'data-testid': 'serving', 'data-served': serving.served },
              `Served ${serving.served} request${serving.served === 1 ? '' : 's'}`,
              serving.failed > 0 ? ` · ${serving.failed} failed` : '',
              serving.profileSent ? ' · profile sent' : '',
            )
          : null,
        left ? null : h('button', { class: 'secondary', onclick: leave }, 'Leave'),
      ),
      h('h2', {}, 'Peers'),
      h('section', { class: 'card' }, peersTable(mesh.peers(), 'No other devices yet.')),
      h('h2', {}, 'Models'),
      models,
    )
  }
  const scheduleRender = frameScheduler(render)
  mesh.subscribe((event) => {
    if (event.type === 'signaling' && event.error) failure = event.error.message
    if (event.type === 'removed') {
      left = true
      failure =
        event.reason === 'removed'
          ? 'The host removed this device from the room.'
          : 'This device was opened in another tab.'
    }
    scheduleRender()
  })
  render()
  renderModels()
  // The runtime (and its worker) loads after the first paint, in its own chunk.
  void import('./device-runtime.ts').then(
    ({ startDeviceRuntime }) => {
      const scheduleModels = frameScheduler(renderModels)
      const runtime = startDeviceRuntime(task, () => {
        runtimeState = runtime.state()
        scheduleModels()
      })
      if (window.cohort) window.cohort = { ...window.cohort, runtime }
      serving = serveAsDevice(mesh, runtime, scheduleRender)
    },
    (error: unknown) => {
      // A chunk that fails to load (offline, or the app was rebuilt under the page) must say so.
      runtimeLoadError = `could not load the runtime (${error instanceof Error ? error.message : String(error)}); reload the page`
      renderModels()
    },
  )
}
