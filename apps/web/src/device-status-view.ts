import type { DeviceStatus } from './device-status.ts'
import { h } from './dom.ts'
import type { WakeLockStatus } from './wake-lock.ts'

/** What the big status card can do. */
export interface DeviceStatusActions {
  readonly leave: () => void
  /** Where "Join again" goes after leaving (the join URL: a fresh identity). */
  readonly rejoinHref: string
}

function wakeLockLine(wake: WakeLockStatus): HTMLElement | null {
  const line = (text: string, extra: Record<string, string> = {}) =>
    h(
      'p',
      { class: 'device-wake', 'data-testid': 'wake-lock', 'data-state': wake.state, ...extra },
      text,
    )
  switch (wake.state) {
    case 'off':
      return null
    case 'held':
      return line('The screen stays on while this device serves.')
    case 'waiting':
      return line('The screen lock comes back when this page is visible again.')
    case 'unavailable':
      return line(`Screen may sleep: ${wake.reason}. Keep the screen on to keep serving.`, {
        'data-reason': wake.reason,
      })
  }
}

/**
 * The device page's one big status, readable at arm's length on a 360 px phone, with the
 * one control a person needs next (Leave while in the room; Join again once out of it).
 */
export function deviceStatusView(
  status: DeviceStatus,
  wake: WakeLockStatus,
  wakeRequests: number,
  actions: DeviceStatusActions,
): HTMLElement {
  const out = status.phase === 'left' || status.phase === 'error'
  const wakeLine = wakeLockLine(wake)
  wakeLine?.setAttribute('data-requests', String(wakeRequests))
  return h(
    'section',
    {
      class: 'card device-status',
      'data-testid': 'device-status',
      'data-phase': status.phase,
      'data-progress': status.progress ?? undefined,
      'data-served': status.served,
      role: 'status',
    },
    h('p', { class: 'device-phase', 'data-testid': 'device-phase' }, status.text),
    status.progress !== null
      ? h('progress', { class: 'device-progress', max: 100, value: status.progress })
      : null,
    h('p', { class: 'device-detail' }, status.detail),
    wakeLine,
    out
      ? h(
          'p',
          { class: 'device-actions' },
          h(
            'a',
            { class: 'button device-big', href: actions.rejoinHref, 'data-testid': 'rejoin' },
            status.phase === 'left' ? 'Join again' : 'Try again',
          ),
          ' ',
          h('a', { href: '/' }, 'Start page'),
        )
      : h(
          'button',
          { class: 'secondary device-big', 'data-testid': 'leave', onclick: actions.leave },
          'Leave',
        ),
  )
}
