import type { MeshEvent, PeerStatus } from '@cohort/mesh'
import type { DeviceOutcome, Plan } from '@cohort/protocol'
import type { EventLog } from './event-log.ts'
import type { FinishedRequest } from './run-feed.ts'

/**
 * Turns what the host's mesh reports into log lines: joins and leaves (by comparing who is in
 * the room before and after each change), links lost while their device is still in the room,
 * and every new plan version. Returns the mesh listener.
 */
export function roomLogger(
  log: EventLog,
  peers: () => readonly PeerStatus[],
): (event: MeshEvent) => void {
  const present = new Map<string, string>()
  const goneReasons = new Map<string, string>()
  let lastPlan = 0
  return (event) => {
    switch (event.type) {
      case 'peers': {
        const now = new Map(peers().map((peer) => [peer.info.deviceId as string, peer.info.label]))
        for (const [id, label] of now) {
          if (!present.has(id)) log.add('join', `${id} joined (${label})`)
        }
        for (const id of present.keys()) {
          if (now.has(id)) continue
          const reason = goneReasons.get(id)
          log.add('leave', `${id} left${reason ? ` (${reason})` : ''}`)
        }
        present.clear()
        for (const [id, label] of now) present.set(id, label)
        goneReasons.clear()
        return
      }
      case 'peer-gone':
        // Still in the room: the data channel broke under a device the coordinator still lists.
        if (peers().some((peer) => peer.info.deviceId === event.deviceId))
          log.add('failure', `link to ${event.deviceId} lost (${event.reason})`)
        else goneReasons.set(event.deviceId, event.reason)
        return
      case 'plan':
        if (event.plan.version > lastPlan) {
          lastPlan = event.plan.version
          log.add('replan', describePlan(event.plan))
        }
        return
      default:
        return
    }
  }
}

/** One line for a plan version: its groups and tiers. */
export function describePlan(plan: Plan): string {
  const parts = [`plan v${plan.version}`]
  if (plan.ensemble) {
    const groups = plan.ensemble.groups.map((group) => group.members.length).join('+')
    parts.push(`K = ${plan.ensemble.k}, ${plan.ensemble.groups.length} groups (${groups} members)`)
  } else parts.push('no groups')
  if (plan.earlyExit)
    parts.push(
      `tiers ${plan.earlyExit.tiers.map((tier) => `${tier.tier} ×${tier.members.length}`).join(', ')}`,
    )
  return parts.join(' · ')
}

/** Logs what a finished request says about the room: failures, re-routes, degraded answers. */
export function logRequest(log: EventLog, request: FinishedRequest, run: number): void {
  const { outcome } = request
  if (outcome.error !== null) {
    const code = outcome.error.split(':')[0] ?? 'error'
    log.add(
      'failure',
      `${request.mode} sample ${outcome.index} failed: ${outcome.error}`,
      `${run}:error:${code}`,
    )
    return
  }
  switch (request.mode) {
    case 'ensemble':
      if (request.outcome.degraded) {
        const slices = request.outcome.missingSlices.join(', ')
        log.add(
          'degraded',
          `sample ${outcome.index}: no answer from group ${slices}, its slice imputed`,
          `${run}:degraded:${slices}`,
        )
      }
      return
    case 'early-exit':
      if (request.outcome.failovers > 0)
        log.add(
          'failure',
          `sample ${outcome.index} re-routed around a failed tier member (${request.outcome.failovers} failover${request.outcome.failovers > 1 ? 's' : ''})`,
          `${run}:failover`,
        )
      if (request.outcome.degraded)
        log.add(
          'degraded',
          `sample ${outcome.index}: answered at exit ${(request.outcome.exitIndex ?? 0) + 1}, a tier gave up`,
          `${run}:degraded`,
        )
      return
    case 'single':
      return
  }
}

/** Logs the devices that missed requests, as the host just reported them to the coordinator. */
export function logReports(log: EventLog, outcomes: readonly DeviceOutcome[]): void {
  for (const outcome of outcomes) {
    if (outcome.misses === 0) continue
    log.add(
      'failure',
      `${outcome.deviceId} missed ${outcome.misses} of ${outcome.requests} requests (reported to the coordinator)`,
    )
  }
}
