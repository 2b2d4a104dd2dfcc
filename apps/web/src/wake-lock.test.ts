import { describe, expect, it } from 'vitest'
import {
  ScreenWakeLock,
  type WakeLockApi,
  type WakeLockSentinelLike,
  type WakeLockStatus,
} from './wake-lock.ts'

/** A document whose visibility the test sets, as the browser would. */
class FakeDocument extends EventTarget {
  visibilityState: DocumentVisibilityState = 'visible'
  show(state: DocumentVisibilityState): void {
    this.visibilityState = state
    this.dispatchEvent(new Event('visibilitychange'))
  }
}

class FakeSentinel extends EventTarget implements WakeLockSentinelLike {
  released = false
  async release(): Promise<void> {
    if (this.released) return
    this.released = true
    this.dispatchEvent(new Event('release'))
  }
}

/** A wake lock that grants (or refuses) each request, and can drop a held lock as a hidden page does. */
class FakeWakeLock implements WakeLockApi {
  refuse: Error | null = null
  readonly granted: FakeSentinel[] = []
  async request(): Promise<WakeLockSentinelLike> {
    if (this.refuse) throw this.refuse
    const sentinel = new FakeSentinel()
    this.granted.push(sentinel)
    return sentinel
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

function setup(options: { api?: boolean; secure?: boolean } = {}) {
  const document = new FakeDocument()
  const api = new FakeWakeLock()
  const seen: WakeLockStatus[] = []
  const lock = new ScreenWakeLock((status) => seen.push(status), {
    wakeLock: options.api === false ? undefined : api,
    document,
    secureContext: options.secure ?? true,
  })
  return { document, api, lock, seen }
}

describe('ScreenWakeLock', () => {
  it('holds the lock while wanted and releases it when no longer wanted', async () => {
    const { api, lock } = setup()
    lock.want(true)
    await settle()
    expect(lock.status).toEqual({ state: 'held' })
    lock.want(false)
    expect(lock.status).toEqual({ state: 'off' })
    expect(api.granted.map((sentinel) => sentinel.released)).toEqual([true])
  })

  it('asks again when the page becomes visible after the browser dropped the lock', async () => {
    const { api, document, lock } = setup()
    lock.want(true)
    await settle()
    // The browser releases the lock of a hidden page.
    document.show('hidden')
    await api.granted[0]?.release()
    expect(lock.status).toEqual({ state: 'waiting' })
    document.show('visible')
    await settle()
    expect(lock.status).toEqual({ state: 'held' })
    expect(lock.requests).toBe(2)
    expect(api.granted.map((sentinel) => sentinel.released)).toEqual([true, false])
  })

  it('waits for a visible page instead of asking while hidden', async () => {
    const { document, lock } = setup()
    document.visibilityState = 'hidden'
    lock.want(true)
    expect(lock.status).toEqual({ state: 'waiting' })
    expect(lock.requests).toBe(0)
    document.show('visible')
    await settle()
    expect(lock.status).toEqual({ state: 'held' })
  })

  it('says why the screen may sleep when the API is missing or refuses, and retries on visible', async () => {
    const insecure = setup({ api: false, secure: false })
    insecure.lock.want(true)
    expect(insecure.lock.status).toEqual({
      state: 'unavailable',
      reason: 'the page is not a secure context (open it over https)',
    })

    const { api, document, lock } = setup()
    api.refuse = new Error('Wake Lock permission request denied')
    lock.want(true)
    await settle()
    expect(lock.status).toEqual({
      state: 'unavailable',
      reason: 'Wake Lock permission request denied',
    })
    api.refuse = null
    document.show('hidden')
    document.show('visible')
    await settle()
    expect(lock.status).toEqual({ state: 'held' })
  })

  it('gives back a lock granted after it stopped being wanted, and stops listening when disposed', async () => {
    const { api, document, lock } = setup()
    lock.want(true)
    lock.want(false) // before the request resolves
    await settle()
    expect(lock.status).toEqual({ state: 'off' })
    expect(api.granted.map((sentinel) => sentinel.released)).toEqual([true])
    lock.dispose()
    document.show('visible')
    await settle()
    expect(lock.requests).toBe(1)
  })
})
