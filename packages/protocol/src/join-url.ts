import { normalizeRoomCode, type RoomCode } from './ids.ts'

/** What a join URL (`https://host:8080/r/<code>?task=digits`) names. */
export interface JoinTarget {
  /** The coordinator: scheme, host and port. */
  readonly origin: string
  readonly room: RoomCode
  /** The `?task=` it names, when that is a task name. */
  readonly task: string | null
}

/** A task's name as manifests and URLs spell it. */
export const TASK_NAME = /^[a-z0-9-]{1,32}$/

/**
 * Reads a join URL (or a dashboard URL, `…/host/<code>`); `base` resolves relative ones. Null
 * when it is no URL or names no room.
 */
export function parseJoinUrl(joinUrl: string | URL, base?: string): JoinTarget | null {
  let url: URL
  try {
    url = new URL(joinUrl, base)
  } catch {
    return null
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null
  const [, section, code] = url.pathname.split('/')
  const room = section === 'r' || section === 'host' ? normalizeRoomCode(code ?? '') : null
  if (!room) return null
  const task = url.searchParams.get('task')
  return { origin: url.origin, room, task: task && TASK_NAME.test(task) ? task : null }
}
