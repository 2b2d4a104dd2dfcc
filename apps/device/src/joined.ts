import type { Mesh, Welcome } from '@cohort/mesh'
import { CohortError } from '@cohort/protocol'

/** Resolves with the mesh's first welcome; rejects when joining failed for good. */
export function joined(mesh: Mesh): Promise<Welcome> {
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
        reject(new CohortError('forbidden', `this member was ${event.reason}`))
      }
    })
  })
  // Awaited later by whoever needs it; a failure before then must not go unhandled.
  welcome.catch(() => undefined)
  return welcome
}
