import type { Mesh, PeerStatus } from '@cohort/mesh'
import type { ClientMessage } from '@cohort/protocol'
import { h, mount } from '../dom.ts'

/**
 * The host's say over who is in the room: lock it once the class is in (only members coming back
 * get in), end it for good, and take a device out — removed (it cannot rejoin as itself) or
 * banned (its network address is refused too).
 */
export class RoomControls {
  /** The controls' element; `update` keeps it current. */
  readonly element = h('div', { class: 'room-controls', 'data-testid': 'room-controls' })
  #error = ''
  #ended = false
  /** What the element shows, so that a frame with nothing new leaves the buttons alone. */
  #shown = ''

  /** Whether the host wants the room locked, kept across reconnects. */
  #wantLocked: boolean | null = null

  constructor(private readonly mesh: Mesh) {
    // A restarted coordinator has forgotten the lock: the dashboard tells it again on rejoin,
    // as it does the task and K.
    mesh.subscribe((event) => {
      if (event.type === 'room-locked') this.#wantLocked = event.locked
      if (event.type !== 'welcome') return
      if (this.#wantLocked === null) this.#wantLocked = event.welcome.locked
      else if (this.#wantLocked !== event.welcome.locked) {
        this.#tell({ type: 'lock-room', locked: this.#wantLocked })
      }
    })
  }

  /** Redraws the controls when the room's state changed. */
  update(): void {
    const locked = this.mesh.roomLocked
    const key = `${locked}:${this.#ended}:${this.#error}`
    if (key === this.#shown) return
    this.#shown = key
    if (this.#ended) {
      mount(
        this.element,
        h('p', { class: 'warn', 'data-testid': 'room-ended' }, 'This room has ended.'),
      )
      return
    }
    mount(
      this.element,
      h(
        'p',
        {
          class: locked ? 'warn' : 'muted',
          'data-testid': 'room-lock-state',
          'data-locked': String(locked),
        },
        locked
          ? 'Locked: no new devices can join (devices that were here can come back).'
          : 'Open: anyone with the code can join.',
      ),
      h(
        'button',
        {
          class: 'secondary',
          'data-testid': 'lock-room',
          onclick: () => this.#tell({ type: 'lock-room', locked: !locked }),
        },
        locked ? 'Unlock room' : 'Lock room',
      ),
      h(
        'button',
        {
          class: 'secondary danger',
          'data-testid': 'end-room',
          title: 'Send every device away; the code and the QR code stop working',
          onclick: () => {
            if (confirm('End this room? Every device is sent away and the code stops working.')) {
              this.#tell({ type: 'end-room' })
            }
          },
        },
        'End room',
      ),
      h('p', { class: 'bad', role: 'alert', hidden: this.#error === '' }, this.#error),
    )
  }

  /** The buttons of one device's row. */
  deviceActions(peer: PeerStatus): Node {
    const { deviceId } = peer.info
    return h(
      'span',
      { class: 'actions' },
      h(
        'button',
        {
          class: 'secondary',
          'data-testid': `remove-${deviceId}`,
          title: 'Take this device out of the room: it cannot rejoin as itself',
          onclick: () => this.#tell({ type: 'remove-device', deviceId }),
        },
        'Remove',
      ),
      h(
        'button',
        {
          class: 'secondary danger',
          'data-testid': `ban-${deviceId}`,
          title: 'Remove it and refuse its network address in this room',
          onclick: () => this.#tell({ type: 'remove-device', deviceId, ban: true }),
        },
        'Ban',
      ),
    )
  }

  #tell(message: ClientMessage): void {
    void this.mesh.tellCoordinator(message).then((reply) => {
      this.#error = reply.ok ? '' : `The server refused: ${reply.error.message}`
      if (reply.ok && message.type === 'end-room') {
        this.#ended = true
        this.mesh.leave()
      }
      this.update()
    })
  }
}
