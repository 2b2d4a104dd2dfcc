import type { PeerStatus } from '@cohort/mesh'
import {
  type DeviceId,
  formatRoomCode,
  HOST_KEY_HEADER,
  type HostKey,
  type RoomCode,
} from '@cohort/protocol'
import QRCode from 'qrcode'
import type { LiveCharts } from './dashboard/charts.ts'
import type { DigitAnswer } from './dashboard/digit-classifier.ts'
import { ensembleKControl, pinnedKFromUrl } from './dashboard/ensemble-k-control.ts'
import { EventLog, eventLogView } from './dashboard/event-log.ts'
import { RoomControls } from './dashboard/room-controls.ts'
import { logReports, logRequest, roomLogger } from './dashboard/room-events.ts'
import { roomView } from './dashboard/room-view.ts'
import { RttProbe } from './dashboard/rtt-probe.ts'
import { RunFeed, type RunListener } from './dashboard/run-feed.ts'
import { initialRunState, RunPanel } from './dashboard/run-panel.ts'
import { DEFAULT_SERIES_OPTIONS, exitHistogram, liveSeries } from './dashboard/series.ts'
import { frameScheduler, h, mount } from './dom.ts'
import type { EarlyExitSession } from './early-exit-session.ts'
import { tiersView } from './early-exit-view.ts'
import type { HostSession } from './host-session.ts'
import { loadHostKey } from './identity.ts'
import { joinAsMember } from './member-page.ts'
import { peersTable } from './peers-view.ts'
import { planView } from './plan-view.ts'
import { STATUS_TEXT } from './status-text.ts'
import { DEFAULT_TASK, taskFromUrl } from './task.ts'

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
  const task = taskFromUrl()
  const joinUrl = `${location.origin}/r/${room}${task === DEFAULT_TASK ? '' : `?task=${task}`}`
  let pinnedK = pinnedKFromUrl()
  // Every (re)join tells the coordinator the task and K: a restarted coordinator has forgotten them.
  mesh.subscribe((event) => {
    if (event.type !== 'welcome') return
    void mesh.tellCoordinator({ type: 'set-task', task })
    void mesh.tellCoordinator({ type: 'set-ensemble-k', k: pinnedK })
  })
  const kControl = ensembleKControl(pinnedK, (k) => {
    pinnedK = k
    void mesh.tellCoordinator({ type: 'set-ensemble-k', k })
  })
  const controls = new RoomControls(mesh)
  let session: HostSession | null = null
  let earlyExit: EarlyExitSession | null = null
  const qr = h('img', { alt: 'QR code of the join URL', 'data-testid': 'join-qr' })
  const joinLink = h('a', { href: joinUrl, 'data-testid': 'join-url', target: '_blank' }, joinUrl)
  const showJoinUrl = (url: string) => {
    joinLink.href = url
    joinLink.textContent = url
    QRCode.toDataURL(url, { margin: 1, width: 512 })
      .then((image) => {
        qr.src = image
      })
      .catch((error: unknown) => console.warn('cohort: could not draw the QR code', error))
  }
  showJoinUrl(joinUrl)
  // A dashboard opened on localhost would show phones a URL they cannot open: use a LAN address.
  if (/^(localhost|127\.|\[::1\])/.test(location.hostname)) {
    void lanOrigin(room, hostKey).then((origin) => {
      if (origin) showJoinUrl(joinUrl.replace(location.origin, origin))
    })
  }
  const joinCard = h(
    'section',
    { class: 'card join' },
    qr,
    h(
      'div',
      {},
      h('p', { class: 'muted' }, 'Scan, or open on any device on this network:'),
      h('p', { class: 'url' }, joinLink),
      h('p', { class: 'muted' }, 'Room code'),
      h('p', { class: 'code mono', 'data-testid': 'room-code' }, formatRoomCode(room)),
      controls.element,
    ),
  )
  const liveCard = h('div')
  const planCard = h('div')
  const chartsCard = h(
    'div',
    {},
    h('p', { class: 'muted' }, 'Charts appear once the models are loaded.'),
  )
  const logCard = h('div')

  const log = new EventLog()
  const feed = new RunFeed()
  let runs = 0
  // Every run, whoever starts it, feeds the charts and tells the log what went wrong.
  const runListener: RunListener = {
    started: (mode, total) => {
      runs++
      feed.started(mode, total)
    },
    finished: (request) => {
      feed.finished(request)
      logRequest(log, request, runs)
    },
  }
  const runPanel = new RunPanel(initialRunState(), () => ({
    session,
    earlyExit,
    devices: mesh.peers().filter((peer) => peer.info.role === 'device'),
    thresholds: mesh.plan?.earlyExit?.thresholds ?? null,
    ensemblePlan: mesh.plan?.ensemble ?? null,
    feed,
    rerender: scheduleRender,
  }))
  let charts: LiveCharts | null = null
  let shownChart = ''
  let shownLog = -1

  const render = () => {
    const state = mesh.signalingState
    const devices = mesh.peers().filter((peer) => peer.info.role === 'device')
    const served = (id: string) => session?.served(id as DeviceId) ?? 0
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
        peersTable(devices, 'Waiting for devices to join…', (peer) => controls.deviceActions(peer)),
        requestersLine(mesh.peers()),
      ),
      h('h2', {}, 'Room'),
      h('section', { class: 'card' }, roomView(mesh.plan, devices, served)),
    )
    mount(
      planCard,
      planView(mesh.plan, served),
      h('h3', {}, 'Early-exit tiers'),
      tiersView(mesh.plan),
    )
    controls.update()
    runPanel.update()
    updateCharts()
    // Only a changed log is re-rendered, so reading it is not disturbed by every frame of a run.
    if (log.version !== shownLog) {
      shownLog = log.version
      mount(logCard, eventLogView(log))
    }
  }

  const updateCharts = () => {
    const points = feed.points()
    const key = `${runs}:${points.length}`
    if (!charts || key === shownChart) return
    shownChart = key
    const cloudOnlyCost =
      feed.mode === 'early-exit' ? (earlyExit?.stats().cloudOnlyCost ?? null) : null
    charts.update({
      mode: feed.mode,
      series: liveSeries(points, { ...DEFAULT_SERIES_OPTIONS, cloudOnlyCost }),
      exitCounts: exitHistogram(points, charts.exits),
    })
  }

  const digitCard = h('div')
  mount(
    root,
    h('h1', {}, 'Cohort room'),
    joinCard,
    liveCard,
    h('h2', {}, 'Plan'),
    h('section', { class: 'card' }, kControl, planCard),
    h('h2', {}, 'Run the test samples'),
    h('section', { class: 'card' }, runPanel.element, chartsCard),
    digitCard,
    h('h2', {}, 'Event log'),
    h('section', { class: 'card' }, logCard),
  )
  const scheduleRender = frameScheduler(render)
  mesh.subscribe(roomLogger(log, () => mesh.peers()))
  const probe = new RttProbe(
    mesh,
    () => !(session?.isRunning || earlyExit?.isRunning),
    scheduleRender,
  )
  addEventListener('pagehide', () => probe.dispose(), { once: true })
  mesh.subscribe(probe.onMeshEvent)
  mesh.subscribe(scheduleRender)
  render()
  // The host runs the combiners (and can run the teacher), so it loads the task's models too.
  void Promise.all([
    import('./device-runtime.ts'),
    import('./host-session.ts'),
    import('./early-exit-session.ts'),
    import('./dashboard/charts.ts'),
    import('./dashboard/digit-classifier.ts'),
    import('./dashboard/draw-digit.ts'),
  ]).then(
    ([
      { startDeviceRuntime },
      { HostSession },
      { EarlyExitSession },
      { LiveCharts },
      { classifyDigit },
      { DigitPad },
    ]) => {
      const runtime = startDeviceRuntime(task, scheduleRender)
      const hostSession = new HostSession(mesh, runtime, {
        ...runListener,
        changed: scheduleRender,
        reported: (outcomes) => {
          logReports(log, outcomes)
          scheduleRender()
        },
      })
      session = hostSession
      // The host is the mobile tier: it runs segment 1 on its own runtime.
      const earlyExitSession = new EarlyExitSession(
        mesh,
        runtime,
        () => hostSession.requester(),
        scheduleRender,
        runListener,
      )
      earlyExit = earlyExitSession
      let pad: InstanceType<typeof DigitPad> | null = null
      let lastDrawing: DigitAnswer | null = null
      let drawings = 0
      const classifyDrawing = async (pixels?: readonly number[]) => {
        const field = pixels ?? pad?.pixels()
        if (!field) throw new Error('nothing is drawn')
        const drawing = ++drawings
        pad?.pending(field)
        const answer = await classifyDigit(hostSession, runtime, field)
        // A newer drawing's answer is not overwritten by an older one arriving late.
        if (drawing === drawings) {
          lastDrawing = answer
          pad?.show(answer)
        }
        return answer
      }
      void runtime
        .whenReady()
        .then(({ task: ready }) => {
          const manifest = runtime.manifest()
          if (!manifest) return
          const liveCharts = new LiveCharts(manifest.earlyExit.thresholds.length + 1)
          charts = liveCharts
          mount(chartsCard, liveCharts.element)
          addEventListener('pagehide', () => liveCharts.dispose(), { once: true })
          if (ready === 'digits') {
            pad = new DigitPad((pixels) => {
              classifyDrawing(Array.from(pixels)).catch((error: unknown) =>
                console.warn('cohort: could not classify the drawing', error),
              )
            }, manifest.classes)
            mount(
              digitCard,
              h('h2', {}, 'Draw a digit'),
              h('section', { class: 'card' }, pad.element),
            )
          }
          scheduleRender()
        })
        .catch((error: unknown) => {
          mount(
            chartsCard,
            h('p', { class: 'bad' }, `No charts: the models did not load (${String(error)})`),
          )
        })
      addEventListener('pagehide', () => hostSession.dispose(), { once: true })
      if (window.cohort) {
        window.cohort = {
          ...window.cohort,
          runtime,
          host: {
            run: (options) => hostSession.run(options),
            runSingle: (options) => hostSession.runSingle(options),
            stats: () => hostSession.stats(),
            runEarlyExit: (options) => earlyExitSession.run(options),
            earlyExitStats: () => earlyExitSession.stats(),
            runCloudOnly: (options) => earlyExitSession.runCloudOnly(options),
            predictEarlyExit: async (thresholds) => {
              await earlyExitSession.measureProfile()
              return earlyExitSession.predict(thresholds)
            },
            chartData: () => charts?.data() ?? null,
            classifyDrawing,
            lastDrawing: () => lastDrawing,
          },
        }
      }
      scheduleRender()
    },
  )
}

/** Who else sends work to the room (apps through the SDK, other dashboards), or nothing. */
function requestersLine(peers: readonly PeerStatus[]): HTMLElement | null {
  const requesters = peers.filter((peer) => peer.info.role !== 'device')
  if (requesters.length === 0) return null
  return h(
    'p',
    { class: 'muted', 'data-testid': 'requesters', 'data-count': requesters.length },
    `Also sending work: ${requesters.map((peer) => `${peer.info.label} (${peer.info.role})`).join(', ')}`,
  )
}

/**
 * The server's first LAN origin (from its health report), or null when it has none. The report
 * names it only to this machine or to a room's host, hence the key.
 */
async function lanOrigin(room: RoomCode, hostKey: HostKey): Promise<string | null> {
  try {
    const headers = { [HOST_KEY_HEADER]: `${room}:${hostKey}` }
    const report: unknown = await (await fetch('/healthz', { headers })).json()
    const origins = (report as { joinOrigins?: unknown }).joinOrigins
    return Array.isArray(origins) && typeof origins[0] === 'string' ? origins[0] : null
  } catch {
    return null
  }
}
