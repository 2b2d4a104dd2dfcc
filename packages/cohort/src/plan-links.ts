import { Mesh, type MeshOptions } from '@cohort/mesh'
import type { DeviceId, PeerInfo, Plan } from '@cohort/protocol'

/**
 * How many members of the next tier a device links to: a hop goes to the tier's best member and
 * fails over down its list, so the first few are the ones that answer.
 */
export const NEXT_TIER_LINKS = 3

/**
 * The links a device wants under a plan, instead of one to every member: every member that is
 * not a device (hosts and requesters send it work), and between two neighbouring early-exit
 * tiers, every member of the earlier with the first NEXT_TIER_LINKS members of the later (an
 * edge member forwards hops to the cloud's best members). Ensemble groups need no links between devices: the requester asks each
 * member itself. Before a plan, no device link. O(devices) links instead of O(devices²).
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
    const head = (tier: number) => tiers[tier]?.members.slice(0, NEXT_TIER_LINKS) ?? []
    const mine = tiers.findIndex((tier) => tier.members.includes(me))
    if (mine < 0) return false
    // Onwards to the head of the next tier; back, from the head of its tier, to the tier before.
    // Both ends want the link, so whichever joined first also offers (a mesh newcomer offers).
    return (
      head(mine + 1).includes(peer.deviceId) ||
      (head(mine).includes(me) && (tiers[mine - 1]?.members.includes(peer.deviceId) ?? false))
    )
  }
}

/**
 * Joins a room as a device whose links follow the plan: it links to requesters and to the early-
 * exit neighbours its plan names, and offers the links a new plan adds as soon as it arrives.
 */
export function joinAsPlannedDevice(options: Omit<MeshOptions, 'role' | 'wants'>): Mesh {
  const mesh: Mesh = new Mesh({
    ...options,
    role: 'device',
    wants: devicePeersWanted(
      () => mesh.plan,
      () => mesh.self?.deviceId ?? null,
    ),
  })
  mesh.subscribe((event) => {
    if (event.type === 'plan') mesh.relink()
  })
  return mesh
}
