import type { PeerStatus } from '@cohort/mesh'
import { h, headerRow } from './dom.ts'

/** A table of room members and the state of the link to each. */
export function peersTable(
  peers: readonly PeerStatus[],
  emptyText: string,
  action?: (peer: PeerStatus) => Node | null,
): HTMLElement {
  if (peers.length === 0) return h('p', { class: 'muted' }, emptyText)
  return h(
    'table',
    { class: 'peers', 'data-testid': 'peers' },
    headerRow('Device', 'Role', 'Link', 'RTT', action ? '' : null),
    h(
      'tbody',
      {},
      ...peers.map((peer) =>
        h(
          'tr',
          { 'data-peer': peer.info.deviceId, 'data-link': peer.link },
          h(
            'td',
            {},
            h('strong', { 'data-testid': 'peer-name' }, peer.info.name),
            ' ',
            h('span', { class: 'mono muted' }, peer.info.deviceId),
            ' ',
            h('span', { class: 'muted' }, peer.info.label),
          ),
          h('td', {}, peer.info.role),
          h('td', {}, h('span', { class: 'pill', 'data-link': peer.link }, peer.link)),
          h('td', {}, peer.rttMs === null ? '–' : `${peer.rttMs.toFixed(1)} ms`),
          action ? h('td', { class: 'peer-actions' }, action(peer)) : null,
        ),
      ),
    ),
  )
}
