import type { PeerStatus } from '@cohort/mesh'
import { type DeviceId, formatRoomCode, type RoomCode } from '@cohort/protocol'
import QRCode from 'qrcode'
import { frameScheduler, h, mount } from './dom.ts'
import type { EarlyExitSession } from './early-exit-session.ts'
import { type EarlyExitControls, earlyExitPanel, tiersView } from './early-exit-view.ts'
import type { HostSession, RunOptions, RunStats } from './host-session.ts'
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
  // Every (re)join tells the coordinator the task: a restarted coordinator has forgotten it.
  mesh.subscribe((event) => {
    if (event.type === 'welcome') void mesh.tellCoordinator({ type: 'set-task', task })
  })
  let session: HostSession | null = null
  let runOptions: RunOptions = { samples: 300, redundancy: 'all', deadlineMs: 2_000 }
  let earlyExit: EarlyExitSession | null = null
  let mode: 'ensemble' | 'early-exit' = 'ensemble'
  const earlyExitControls: EarlyExitControls = { samples: 300, deadlineMs: 2_000, thresholds: null }
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
    void lanOrigin().then((origin) => {
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
      h('p', { class: 'code mono' }, formatRoomCode(room)),
    ),
  )
  const liveCard = h('div')
  const removeButton = (peer: PeerStatus) =>
    h(
      'button',
      {
        class: 'secondary',
        'data-testid': `remove-${peer.info.deviceId}`,
        title: 'Disconnect this device (fault injection)',
        onclick: () => {
          void mesh.tellCoordinator({ type: 'remove-device', deviceId: peer.info.deviceId })
        },
      },
      'Disconnect',
    )

  const render = () => {
    const state = mesh.signalingState
    const devices = mesh.peers().filter((peer) => peer.info.role === 'device')
    const stats = session?.stats() ?? null
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
        peersTable(devices, 'Waiting for devices to join…', removeButton),
      ),
      h('h2', {}, 'Plan'),
      h(
        'section',
        { class: 'card' },
        planView(mesh.plan, (id) => session?.served(id as DeviceId) ?? 0),
        h('h3', {}, 'Early-exit tiers'),
        tiersView(mesh.plan),
      ),
      h('h2', {}, 'Run the test samples'),
      h(
        'section',
        { class: 'card' },
        modeSwitch(),
        mode === 'early-exit' && earlyExit
          ? earlyExitPanel(
              earlyExit,
              mesh.plan?.earlyExit?.thresholds ?? earlyExit.calibrated(),
              earlyExitControls,
              scheduleRender,
            )
          : runControls(),
        mode === 'early-exit'
          ? null
          : stats
            ? statsView(stats)
            : h('p', { class: 'muted' }, 'Loading models…'),
      ),
    )
  }

  const modeSwitch = () => {
    const select = h(
      'select',
      {
        'aria-label': 'Mode',
        'data-testid': 'mode',
        onchange: (event: Event) => {
          mode =
            (event.target as HTMLSelectElement).value === 'early-exit' ? 'early-exit' : 'ensemble'
          scheduleRender()
        },
      },
      h('option', { value: 'ensemble' }, 'ensemble (RoCoIn)'),
      h('option', { value: 'early-exit' }, 'early exit (DistrEE / DIMEE)'),
    )
    select.value = mode
    return h('p', { class: 'row' }, 'Mode ', select)
  }

  const runControls = () => {
    const samples = h('input', {
      type: 'number',
      min: 1,
      max: 1000,
      value: runOptions.samples,
      'aria-label': 'Samples',
    })
    const redundancy = h(
      'select',
      { 'aria-label': 'Redundancy' },
      h('option', { value: 'all' }, 'all members'),
      h('option', { value: 'hedged' }, 'hedged'),
    )
    redundancy.value = runOptions.redundancy
    const start = h(
      'button',
      { 'data-testid': 'run-samples', disabled: !session || session.stats().running },
      'Run',
    )
    start.addEventListener('click', () => {
      runOptions = {
        ...runOptions,
        samples: Number(samples.value) || 300,
        redundancy: redundancy.value === 'hedged' ? 'hedged' : 'all',
      }
      session
        ?.run(runOptions)
        .catch((error: unknown) => console.warn('cohort: the run failed', error))
    })
    return h(
      'form',
      { class: 'row', onsubmit: (event: Event) => event.preventDefault() },
      samples,
      redundancy,
      start,
    )
  }

  const statsView = (stats: RunStats) =>
    h(
      'p',
      {
        'data-testid': 'run-stats',
        'data-done': stats.done,
        'data-accuracy': stats.accuracy ?? '',
      },
      `${stats.done}/${stats.total} samples`,
      stats.accuracy === null ? '' : ` · accuracy ${stats.accuracy.toFixed(1)}%`,
      stats.p50Ms === null
        ? ''
        : ` · p50 ${stats.p50Ms.toFixed(1)} ms · p95 ${(stats.p95Ms ?? 0).toFixed(1)} ms`,
      ` · ${stats.degraded} degraded · ${stats.errors} failed`,
    )

  mount(root, h('h1', {}, 'Cohort room'), joinCard, liveCard)
  const scheduleRender = frameScheduler(render)
  mesh.subscribe(scheduleRender)
  render()
  // The host runs the combiners (and can run the teacher), so it loads the task's models too.
  void Promise.all([
    import('./device-runtime.ts'),
    import('./host-session.ts'),
    import('./early-exit-session.ts'),
  ]).then(([{ startDeviceRuntime }, { HostSession }, { EarlyExitSession }]) => {
    const runtime = startDeviceRuntime(task, scheduleRender)
    const hostSession = new HostSession(mesh, runtime, scheduleRender)
    session = hostSession
    // The host is the mobile tier: it runs segment 1 on its own runtime.
    const earlyExitSession = new EarlyExitSession(
      mesh,
      runtime,
      hostSession.tracker,
      scheduleRender,
    )
    earlyExit = earlyExitSession
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
        },
      }
    }
    scheduleRender()
  })
}

/** The server's first LAN origin (from its health report), or null when it has none. */
async function lanOrigin(): Promise<string | null> {
  try {
    const report: unknown = await (await fetch('/healthz')).json()
    const origins = (report as { joinOrigins?: unknown }).joinOrigins
    return Array.isArray(origins) && typeof origins[0] === 'string' ? origins[0] : null
  } catch {
    return null
  }
}
