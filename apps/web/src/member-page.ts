import { Mesh, type MeshEvent } from '@cohort/mesh'
import type { HostKey, Role, RoomCode } from '@cohort/protocol'
import { deviceLabel } from './device-label.ts'
import { echoAll } from './diagnostics.ts'
import { loadResumeToken, saveResumeToken } from './identity.ts'
import './page-handle.ts'

/** Joins a room as a member and wires what every member page shares. */
export function joinAsMember(room: RoomCode, role: Role, hostKey?: HostKey): Mesh {
  const resumeToken = loadResumeToken(room, role)
  const mesh = new Mesh({
    room,
    role,
    label: deviceLabel(),
    ...(resumeToken ? { resumeToken } : {}),
    ...(hostKey ? { hostKey } : {}),
  })
  mesh.subscribe((event: MeshEvent) => {
    if (event.type === 'welcome') saveResumeToken(room, role, event.welcome.resumeToken)
  })
  window.cohort = { mesh, echoAll: (floatCount) => echoAll(mesh, floatCount) }
  return mesh
}
