import { CohortError, type Plan } from '@cohort/protocol'
import type { Mesh } from './mesh.ts'
import type { Welcome } from './signaling-client.ts'

/** Resolves with the mesh's first welcome; rejects with a CohortError when joining failed for good. */
export function whenJoined(mesh: Mesh): Promise<Welcome> {
  if (mesh.self) return Promise.resolve(mesh.self)
  const welcome = new Promise<Welcome>((resolve, reject) => {
    const stop = mesh.subscribe((event) => {
      if (event.type === 'welcome') {
        stop()
        resolve(event.welcome)
      } else if (event.type === 'signaling' && event.state === 'failed') {
        stop()
        reject(event.error ?? new CohortError('unavailable', 'could not join the room'))
      } else if (event.type === 'removed') {
        stop()
        const why =
          event.reason === 'replaced'
            ? ' (another member took its identity)'
            : event.reason === 'removed'
              ? ' (by the host)'
              : ''
        reject(new CohortError('forbidden', `this member was ${event.reason}${why}`))
      }
    })
  })
  // Whoever awaits it may do so later; a failure before then must not go unhandled.
  welcome.catch(() => undefined)
  return welcome
}

/** Resolves with the first plan made from at least one profiled device. */
export function whenPlanned(mesh: Mesh): Promise<Plan> {
  const ready = (plan: Plan | null): plan is Plan => (plan?.devices.length ?? 0) > 0
  if (ready(mesh.plan)) return Promise.resolve(mesh.plan)
  return new Promise((resolve) => {
    const stop = mesh.subscribe((event) => {
      if (event.type === 'plan' && ready(event.plan)) {
        stop()
        resolve(event.plan)
      }
    })
  })
}
