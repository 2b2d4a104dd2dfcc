import type { DeviceId, PeerInfo, Plan } from '@cohort/protocol'

/**
 * The links a device needs under a plan, instead of one to every member: every member that is
 * not a device (hosts and requesters send it work), and the devices of the early-exit tiers next
 * to its own (an edge member forwards hops to the cloud's). Ensemble groups need no links
 * between devices: the requester asks each member itself. Before a plan, no device link.
 */
export function devicePeersWanted(
  plan: () => Plan | null,
  self: () => DeviceId | null,
): (peer: PeerInfo) => boolean {
  return (peer) => {
    if (peer.role !== 'device') return true
    const me = self()
    const tiers = plan()?.earlyExit?.tiers ?? []
    if (!me) return false
    const tierOf = (id: DeviceId) => tiers.findIndex((tier) => tier.members.includes(id))
    const mine = tierOf(me)
    const theirs = tierOf(peer.deviceId)
    return mine >= 0 && theirs >= 0 && Math.abs(mine - theirs) === 1
  }
}
