/**
 * A raw RTCDataChannel between two pages, with no Cohort code on it: the floor the mesh is
 * compared against. Signaled through this process (page.evaluate), not through the coordinator.
 */
import type { Page } from '@playwright/test'

type RawWindow = Window & { rawPc?: RTCPeerConnection; rawChannel?: RTCDataChannel }

/** Connects a raw RTCPeerConnection with one ordered channel from `a` to `b`. */
export async function connectRaw(a: Page, b: Page): Promise<void> {
  const offer = await a.evaluate(async () => {
    const w = window as RawWindow
    const pc = new RTCPeerConnection()
    w.rawPc = pc
    w.rawChannel = pc.createDataChannel('raw', { ordered: true })
    w.rawChannel.binaryType = 'arraybuffer'
    await pc.setLocalDescription(await pc.createOffer())
    await new Promise<void>((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve()
      pc.addEventListener(
        'icegatheringstatechange',
        () => pc.iceGatheringState === 'complete' && resolve(),
      )
    })
    return pc.localDescription?.toJSON()
  })
  const answer = await b.evaluate(async (offer) => {
    const w = window as RawWindow
    const pc = new RTCPeerConnection()
    w.rawPc = pc
    pc.addEventListener('datachannel', (event) => {
      w.rawChannel = event.channel
      w.rawChannel.binaryType = 'arraybuffer'
    })
    await pc.setRemoteDescription(offer as RTCSessionDescriptionInit)
    await pc.setLocalDescription(await pc.createAnswer())
    await new Promise<void>((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve()
      pc.addEventListener(
        'icegatheringstatechange',
        () => pc.iceGatheringState === 'complete' && resolve(),
      )
    })
    return pc.localDescription?.toJSON()
  }, offer)
  await a.evaluate(async (answer) => {
    const w = window as RawWindow
    await w.rawPc?.setRemoteDescription(answer as RTCSessionDescriptionInit)
    const channel = w.rawChannel
    if (!channel) throw new Error('no raw channel')
    if (channel.readyState !== 'open')
      await new Promise((resolve) => channel.addEventListener('open', resolve, { once: true }))
  }, answer)
  await b.waitForFunction(() => (window as RawWindow).rawChannel?.readyState === 'open')
}

/** `b` echoes strings (pings) and answers 'done' after each `bulkBytes` of binary. */
export async function startRawReceiver(b: Page, bulkBytes: number): Promise<void> {
  await b.evaluate((totalBytes) => {
    const channel = (window as RawWindow).rawChannel
    let received = 0
    channel?.addEventListener('message', (event: MessageEvent) => {
      if (typeof event.data === 'string') {
        channel.send(event.data)
        return
      }
      received += (event.data as ArrayBuffer).byteLength
      if (received >= totalBytes) {
        received = 0
        channel.send('done')
      }
    })
  }, bulkBytes)
}

/** `pings` round trips of a 4-byte string over the raw channel, in ms. */
export function rawPing(a: Page, pings: number): Promise<number[]> {
  return a.evaluate(async (pings) => {
    const channel = (window as RawWindow).rawChannel
    if (!channel) throw new Error('no raw channel')
    const times: number[] = []
    for (let i = 0; i < pings; i++) {
      const started = performance.now()
      await new Promise<void>((resolve) => {
        channel.addEventListener('message', () => resolve(), { once: true })
        channel.send('ping')
      })
      times.push(performance.now() - started)
    }
    return times
  }, pings)
}

/** Sends `totalMiB` through the raw channel with backpressure; MB/s until the receiver's 'done'. */
export function rawBulk(a: Page, totalMiB: number): Promise<number> {
  return a.evaluate(async (totalMiB) => {
    const channel = (window as RawWindow).rawChannel
    if (!channel) throw new Error('no raw channel')
    const chunk = new Uint8Array(256 * 1024 - 16)
    const total = totalMiB * 1024 * 1024
    const done = new Promise<void>((resolve) => {
      const onMessage = (event: MessageEvent) => {
        if (event.data === 'done') {
          channel.removeEventListener('message', onMessage)
          resolve()
        }
      }
      channel.addEventListener('message', onMessage)
    })
    channel.bufferedAmountLowThreshold = 1024 * 1024
    const started = performance.now()
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (channel.bufferedAmount > 4 * 1024 * 1024) {
        await new Promise((resolve) =>
          channel.addEventListener('bufferedamountlow', resolve, { once: true }),
        )
      }
      channel.send(total - sent >= chunk.length ? chunk : chunk.subarray(0, total - sent))
    }
    await done
    return total / ((performance.now() - started) / 1000) / 1e6
  }, totalMiB)
}

/** `pings` round trips of a 4-float tensor through Cohort's mesh (`echo`) to `peer`, in ms. */
export function meshPing(page: Page, peer: string, pings: number): Promise<number[]> {
  type MeshWindow = Window & {
    cohort: { mesh: import('@cohort/mesh').Mesh }
  }
  return page.evaluate(
    async ({ peer, pings }) => {
      const { mesh } = (window as unknown as MeshWindow).cohort
      const data = new Float32Array(4)
      const times: number[] = []
      for (let i = 0; i < pings; i++) {
        const started = performance.now()
        const outcome = await mesh.request(
          peer as never,
          'echo',
          [{ name: 'x', dtype: 'float32', dims: [4], data }],
          { deadlineMs: 5_000 },
        )
        if (!outcome.ok) throw new Error(outcome.error.message)
        times.push(performance.now() - started)
      }
      return times
    },
    { peer, pings },
  )
}
