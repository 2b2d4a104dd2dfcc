import type { PeerStatus } from '@cohort/mesh'
import type { Plan, PlannedDevice } from '@cohort/protocol'
import { h } from '../dom.ts'

/** A planned member's state: its data channel from the host, or gone from the room. */
type MemberState = PeerStatus['link'] | 'gone'

/**
 * The room as the plan uses it: each ensemble group (a student slice) and each early-exit tier
 * with its members, best first, each with the state of the host's link to it and that link's
 * measured round trip (requests' round trips minus the device's serving time, smoothed) and
 * bandwidth (from the host's probes), and what the plan knew of it: a browser or a Node device,
 * and the slowdown it emulates.
 */
export function roomView(
  plan: Plan | null,
  peers: readonly PeerStatus[],
  served: (deviceId: string) => number,
): HTMLElement {
  if (!plan) return h('p', { class: 'muted', 'data-testid': 'room' }, 'No plan yet.')
  const byId = new Map(peers.map((peer) => [peer.info.deviceId as string, peer]))
  const facts = new Map(plan.devices.map((device) => [device.deviceId as string, device]))
  const member = (deviceId: string) => {
    const peer = byId.get(deviceId)
    const state: MemberState = peer?.link ?? 'gone'
    const rtt = peer?.rttMs ?? null
    const bandwidth = peer?.bytesPerMs ?? null
    const known = facts.get(deviceId)
    return h(
      'li',
      {
        class: 'member',
        'data-member': deviceId,
        'data-state': state,
        'data-rtt': rtt === null ? '' : String(rtt),
        'data-bytes-per-ms': bandwidth === null ? '' : String(bandwidth),
        'data-platform': known?.platform ?? '',
        'data-slowdown': known?.slowdown ?? '',
        title: peer?.info.label ?? 'no longer in the room',
      },
      h('span', { class: 'mono' }, deviceId),
      ...(known ? [kindPill(known)] : []),
      h('span', { class: 'pill', 'data-link': state }, state),
      h('span', { class: 'rtt' }, rtt === null ? 'RTT –' : `RTT ${rtt.toFixed(2)} ms`),
      h('span', { class: 'muted' }, bandwidth === null ? '' : megabytesPerSecond(bandwidth)),
      h('span', { class: 'muted' }, `${served(deviceId)} served`),
    )
  }
  const box = (
    title: string,
    detail: string,
    members: readonly string[] | string,
    attributes: Record<string, string | number>,
  ) =>
    h(
      'div',
      { class: 'room-box', ...attributes },
      h('p', {}, h('strong', {}, title), h('span', { class: 'muted' }, ` ${detail}`)),
      typeof members === 'string' || members.length === 0
        ? h('p', { class: 'muted' }, typeof members === 'string' ? members : 'no members')
        : h('ul', { class: 'members' }, ...members.map(member)),
    )
  const ensemble = plan.ensemble
  const earlyExit = plan.earlyExit
  return h(
    'div',
    { class: 'room', 'data-testid': 'room', 'data-version': plan.version },
    h(
      'div',
      {},
      h('h3', {}, ensemble ? `Groups (ensemble, K = ${ensemble.k})` : 'Groups (ensemble)'),
      ensemble
        ? h(
            'div',
            { class: 'room-boxes' },
            ...ensemble.groups.map((group) =>
              box(`slice ${group.slice}`, group.student, group.members, {
                'data-group': group.slice,
              }),
            ),
          )
        : h('p', { class: 'muted' }, 'No groups planned yet.'),
    ),
    h(
      'div',
      {},
      h('h3', {}, 'Tiers (early exit)'),
      earlyExit
        ? h(
            'div',
            { class: 'room-boxes' },
            box('mobile', earlyExit.segments[0] ?? '', 'this dashboard (the requester)', {
              'data-tier': 'mobile',
            }),
            ...earlyExit.tiers.map((tier) =>
              box(tier.tier, tier.segment, tier.members, { 'data-tier': tier.tier }),
            ),
          )
        : h('p', { class: 'muted' }, 'No tiers planned yet.'),
    ),
  )
}

/** A browser tab or a Node device, and how much slower it pretends to be. */
function kindPill(device: PlannedDevice): HTMLElement {
  const kind = device.platform === 'node' ? 'Node' : 'browser'
  const slowdown = device.slowdown > 1 ? ` · ${device.slowdown}× slower (emulated)` : ''
  return h(
    'span',
    { class: 'pill', title: `runs on ${device.executionProvider}` },
    `${kind}${slowdown}`,
  )
}

/** Bytes per ms as MB/s (1 byte per ms = 1 kB/s), the way people read a link. */
function megabytesPerSecond(bytesPerMs: number): string {
  const megabytes = bytesPerMs / 1_000
  return `${megabytes >= 100 ? megabytes.toFixed(0) : megabytes.toFixed(1)} MB/s`
}
