import { formatRoomCode, type RoomCode } from '@cohort/protocol'
import { type ServingState, serveAsDevice } from './device-role.ts'
import type { RuntimeState } from './device-runtime.ts'
import { type DeviceStatusInput, deviceStatus, type RuntimeProgress } from './device-status.ts'
import { deviceStatusCard } from './device-status-view.ts'
import { frameScheduler, h, mount } from './dom.ts'
import { forgetResumeToken } from './identity.ts'
import { joinAsMember } from './member-page.ts'
import { modelsView } from './models-view.ts'
import { peersTable } from './peers-view.ts'
import { STATUS_TEXT } from './status-text.ts'
import { taskFromUrl } from './task.ts'
import { ScreenWakeLock } from './wake-lock.ts'

function runtimeProgress(state: RuntimeState): RuntimeProgress {
  let bytesDone = 0
  let bytesTotal = 0
  // What the page downloads before it is ready: the models its plan may name later are not.
  for (const row of state.models) {
    if (row.state === 'deferred') continue
    bytesDone += row.bytesDone
    bytesTotal += row.bytesTotal
  }
  return { phase: state.phase, bytesDone, bytesTotal, error: state.error }
}

/**
 * The page a phone opens from the join URL: it becomes a device of the room. Opening the URL
 * is the one tap: the page joins, downloads and serves by itself. No extra button is needed,
 * because nothing here needs a user gesture (the screen wake lock needs a visible page, not a
 * gesture; the models need no permission).
 */
export function showDevicePage(root: HTMLElement, room: RoomCode): void {
  const mesh = joinAsMember(room, 'device')
  const task = taskFromUrl()
  const rejoinHref = location.href
  let ended: DeviceStatusInput['ended'] = null
  let joinError: string | null = null
  let everJoined = false
  let everLinked = false
  let hostSeen = false
  let runtimeState: RuntimeState | null = null
  let runtimeLoadError: string | null = null
  let serving: ServingState | null = null

  const wakeLock = new ScreenWakeLock(() => scheduleRender())

  const leave = () => {
    ended = 'left'
    wakeLock.dispose()
    mesh.leave()
    forgetResumeToken(room, 'device')
    render()
  }

  // The skeleton is built once: the sections a person collapsed stay collapsed across renders.
  // On a phone they start collapsed, so the status, the room and Leave fill the screen.
  const detailsOpen = !matchMedia('(max-width: 40rem)').matches
  const infoSlot = h('div', {})
  const peersSlot = h('div', {})
  const models = h('div', { 'data-testid': 'models-slot' })
  const card = deviceStatusCard({ leave, rejoinHref })
  mount(
    root,
    card.element,
    h(
      'details',
      { class: 'device-more', open: detailsOpen },
      h('summary', {}, 'Room and peers'),
      infoSlot,
      peersSlot,
    ),
    h('details', { class: 'device-more', open: detailsOpen }, h('summary', {}, 'Models'), models),
  )
  const renderModels = () => mount(models, modelsView(runtimeState, task, runtimeLoadError))

  const render = () => {
    const peers = mesh.peers()
    const open = peers.filter((peer) => peer.link === 'open').length
    if (open > 0) everLinked = true
    const hostHere = peers.some((peer) => peer.info.role === 'host')
    if (hostHere) hostSeen = true
    const status = deviceStatus({
      signaling: mesh.signalingState,
      everJoined,
      ended,
      joinError,
      runtime: runtimeState ? runtimeProgress(runtimeState) : null,
      runtimeLoadError,
      peers: { total: peers.length, open },
      everLinked,
      hostLeft: hostSeen && !hostHere,
      served: serving?.served ?? 0,
    })
    // The screen stays on while the device is (or is getting back to) serving.
    const up =
      status.phase === 'ready' || status.phase === 'serving' || status.phase === 'reconnecting'
    if (ended === null) wakeLock.want(up)
    card.update(status, wakeLock.status, wakeLock.requests, mesh.self?.name ?? null)
    const self = mesh.self
    const signaling = ended ? 'closed' : mesh.signalingState
    mount(
      infoSlot,
      h(
        'p',
        { class: 'muted' },
        h(
          'span',
          { class: 'status-small', 'data-testid': 'status', 'data-state': signaling },
          STATUS_TEXT[signaling],
        ),
        ' · room ',
        h('span', { class: 'mono' }, formatRoomCode(room)),
        self ? ' · you are ' : '',
        self ? h('span', { class: 'mono', 'data-testid': 'device-id' }, self.deviceId) : '',
      ),
      ...(serving
        ? [
            h(
              'p',
              { class: 'muted', 'data-testid': 'serving', 'data-served': serving.served },
              `Served ${serving.served} request${serving.served === 1 ? '' : 's'}`,
              serving.failed > 0 ? ` · ${serving.failed} failed` : '',
              serving.profileSent ? ' · profile sent' : '',
            ),
          ]
        : []),
    )
    mount(peersSlot, peersTable(peers, 'No other devices yet.'))
  }
  const scheduleRender = frameScheduler(render)
  mesh.subscribe((event) => {
    if (event.type === 'welcome') everJoined = true
    if (event.type === 'signaling' && event.error && event.state === 'failed')
      joinError = event.error.message
    if (event.type === 'removed') {
      ended = event.reason
      wakeLock.dispose()
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
        scheduleRender()
      })
      if (window.cohort) window.cohort = { ...window.cohort, runtime }
      serving = serveAsDevice(mesh, runtime, scheduleRender)
    },
    (error: unknown) => {
      // A chunk that fails to load (offline, or the app was rebuilt under the page) must say so.
      runtimeLoadError = `Could not load the runtime (${error instanceof Error ? error.message : String(error)}).`
      renderModels()
      render()
    },
  )
}
