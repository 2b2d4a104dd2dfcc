import { joinAsPlannedDevice } from '@cohort/cohort'
import { Mesh, type MeshEvent } from '@cohort/mesh'
import type { HostKey, Role, RoomCode } from '@cohort/protocol'
import { deviceLabel } from './device-label.ts'
import { echoAll } from './diagnostics.ts'
import { loadResumeToken, saveResumeToken } from './identity.ts'
import './page-handle.ts'

/** Joins a room as a member and wires what every member page shares. */
export function joinAsMember(room: RoomCode, role: Role, hostKey?: HostKey): Mesh {
  const resumeToken = loadResumeToken(room, role)
  const options = {
    room,
    label: deviceLabel(),
    ...(resumeToken ? { resumeToken } : {}),
    ...(hostKey ? { hostKey } : {}),
  }
  // A device links only to the peers its plan needs; a host or requester, to every device.
  const mesh = role === 'device' ? joinAsPlannedDevice(options) : new Mesh({ ...options, role })
  mesh.subscribe((event: MeshEvent) => {
    if (event.type === 'welcome') saveResumeToken(room, role, event.welcome.resumeToken)
  })
  window.cohort = { mesh, echoAll: (floatCount) => echoAll(mesh, floatCount) }
  return mesh
}
