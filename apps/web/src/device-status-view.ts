import type { DeviceStatus } from './device-status.ts'
import { h, mount } from './dom.ts'
import type { WakeLockStatus } from './wake-lock.ts'

/** What the big status card can do. */
export interface DeviceStatusActions {
  readonly leave: () => void
  /** Where "Join again" goes after leaving (the join URL: a fresh identity). */
  readonly rejoinHref: string
}

/** The card, and how to show a new status on it. */
export interface DeviceStatusCard {
  readonly element: HTMLElement
  /** `name`: this device's name in the room (null until the coordinator gave one). */
  update(
    status: DeviceStatus,
    wake: WakeLockStatus,
    wakeRequests: number,
    name: string | null,
  ): void
}

function wakeLockText(wake: WakeLockStatus): string {
  switch (wake.state) {
    case 'off':
      return ''
    case 'held':
      return 'The screen stays on while this device serves.'
    case 'waiting':
      return 'The screen lock comes back when this page is visible again.'
    case 'unavailable':
      return `Screen may sleep: ${wake.reason}. Keep the screen on to keep serving.`
  }
}

const setAttribute = (element: Element, name: string, value: string | null) => {
  if (value === null) element.removeAttribute(name)
  else element.setAttribute(name, value)
}

/**
 * The device page's one big status, readable at arm's length on a 360 px phone, with the one
 * control a person needs next (Leave while in the room; Join again once out of it). Updated in
 * place: a serving device re-renders many times a second, and a button replaced between
 * touch-down and touch-up would swallow the tap.
 */
export function deviceStatusCard(actions: DeviceStatusActions): DeviceStatusCard {
  const you = h('p', { class: 'device-name', 'data-testid': 'device-name' })
  const phase = h('p', { class: 'device-phase', 'data-testid': 'device-phase' })
  const progress = h('progress', { class: 'device-progress', max: 100 })
  const detail = h('p', { class: 'device-detail' })
  const wakeLine = h('p', { class: 'device-wake', 'data-testid': 'wake-lock' })
  const leave = h(
    'button',
    { class: 'secondary device-big', 'data-testid': 'leave', onclick: actions.leave },
    'Leave',
  )
  const rejoin = h('a', {
    class: 'button device-big',
    href: actions.rejoinHref,
    'data-testid': 'rejoin',
  })
  const out = h('p', { class: 'device-actions' }, rejoin, ' ', h('a', { href: '/' }, 'Start page'))
  const controls = h('div', {})
  const element = h(
    'section',
    { class: 'card device-status', 'data-testid': 'device-status', role: 'status' },
    you,
    phase,
    progress,
    detail,
    wakeLine,
    controls,
  )
  return {
    element,
    update(status, wake, wakeRequests, name) {
      // The name the dashboard shows for this device: how a student finds their row.
      you.hidden = name === null || status.phase === 'left'
      you.textContent = name === null ? '' : `You are ${name}`
      setAttribute(element, 'data-phase', status.phase)
      setAttribute(
        element,
        'data-progress',
        status.progress === null ? null : String(status.progress),
      )
      setAttribute(element, 'data-served', String(status.served))
      phase.textContent = status.text
      progress.hidden = status.progress === null
      progress.value = status.progress ?? 0
      detail.textContent = status.detail
      const ended = status.phase === 'left' || status.phase === 'error'
      // Once out of the room the lock is off; no line about it.
      wakeLine.hidden = wake.state === 'off' || ended
      setAttribute(wakeLine, 'data-state', wake.state)
      setAttribute(wakeLine, 'data-requests', String(wakeRequests))
      setAttribute(wakeLine, 'data-reason', wake.state === 'unavailable' ? wake.reason : null)
      wakeLine.textContent = wakeLockText(wake)
      rejoin.textContent = status.phase === 'left' ? 'Join again' : 'Try again'
      const control = ended ? out : leave
      if (controls.firstChild !== control) mount(controls, control)
    },
  }
}
