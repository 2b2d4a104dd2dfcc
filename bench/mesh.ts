/**
 * Mesh benchmark: between two headless Chromium pages on this machine, in one run,
 * - ping round trip (median, p95) through Cohort's mesh and through a raw RTCDataChannel,
 * - bulk tensor goodput through Cohort's mesh and through the raw channel on the same pair.
 * Writes bench/results/mesh-<date>.json and prints a Markdown table.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { chromium, type Page } from '@playwright/test'
import {
  createRoomAsHost,
  joinAsDevice,
  startCohortServer,
  waitForOpenLinks,
} from '../e2e/harness.ts'
import { chromiumArgs } from '../playwright.config.ts'

const PINGS = Number(process.env.BENCH_PINGS ?? 300)
const BULK_MIB = Number(process.env.BENCH_BULK_MIB ?? 64)
const TENSOR_MIB = 4
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

type PageWindow = Window & {
  cohort: { mesh: import('@cohort/mesh').Mesh }
  rawPc?: RTCPeerConnection
  rawChannel?: RTCDataChannel
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}
const median = (values: number[]) => percentile(values, 50)

async function meshPing(page: Page, peer: string): Promise<number[]> {
  return page.evaluate(
    async ({ peer, pings }) => {
      const { mesh } = (window as unknown as PageWindow).cohort
      const data = new Float32Array(4)
      const times: number[] = []
      for (let i = 0; i < pings; i++) {
        const started = performance.now()
        const outcome = await mesh.request(
          peer as never,
          'echo',
          [{ name: 'x', dtype: 'float32', dims: [4], data }],
          {
            deadlineMs: 5_000,
          },
        )
        if (!outcome.ok) throw new Error(outcome.error.message)
        times.push(performance.now() - started)
      }
      return times
    },
    { peer, pings: PINGS },
  )
}

async function meshBulk(sender: Page, receiver: Page, peer: string): Promise<number> {
  await receiver.evaluate(() => {
    ;(window as unknown as PageWindow).cohort.mesh.handle('sink', async () => ({ frames: [] }))
  })
  return sender.evaluate(
    async ({ peer, totalMiB, tensorMiB }) => {
      const { mesh } = (window as unknown as PageWindow).cohort
      const floats = (tensorMiB * 1024 * 1024) / 4
      const data = new Float32Array(floats)
      const count = totalMiB / tensorMiB
      const started = performance.now()
      // Four requests in flight keep the channel busy, as a pipeline of inference requests would.
      let next = 0
      const lane = async () => {
        while (next < count) {
          next++
          const outcome = await mesh.request(
            peer as never,
            'sink',
            [{ name: 'x', dtype: 'float32', dims: [floats], data }],
            {
              deadlineMs: 60_000,
            },
          )
          if (!outcome.ok) throw new Error(outcome.error.message)
        }
      }
      await Promise.all([lane(), lane(), lane(), lane()])
      const seconds = (performance.now() - started) / 1000
      return (totalMiB * 1024 * 1024) / seconds / 1e6
    },
    { peer, totalMiB: BULK_MIB, tensorMiB: TENSOR_MIB },
  )
}

/** Connects a raw RTCPeerConnection between the pages, signaled through this process. */
async function connectRaw(a: Page, b: Page): Promise<void> {
  const offer = await a.evaluate(async () => {
    const w = window as unknown as PageWindow
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
    const w = window as unknown as PageWindow
    const pc = new RTCPeerConnection()
    w.rawPc = pc
    const opened = new Promise<void>((resolve) => {
      pc.addEventListener('datachannel', (event) => {
        w.rawChannel = event.channel
        w.rawChannel.binaryType = 'arraybuffer'
        event.channel.addEventListener('open', () => resolve())
      })
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
    void opened
    return pc.localDescription?.toJSON()
  }, offer)
  await a.evaluate(async (answer) => {
    const w = window as unknown as PageWindow
    await w.rawPc?.setRemoteDescription(answer as RTCSessionDescriptionInit)
    const channel = w.rawChannel
    if (!channel) throw new Error('no raw channel')
    if (channel.readyState !== 'open')
      await new Promise((resolve) => channel.addEventListener('open', resolve, { once: true }))
  }, answer)
  await b.waitForFunction(() => (window as unknown as PageWindow).rawChannel?.readyState === 'open')
}

/** The raw receiver echoes strings (pings) and answers 'done' after each `totalBytes` of binary. */
async function startRawReceiver(b: Page): Promise<void> {
  await b.evaluate(
    (totalBytes) => {
      const channel = (window as unknown as PageWindow).rawChannel
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
    },
    BULK_MIB * 1024 * 1024,
  )
}

async function rawPing(a: Page): Promise<number[]> {
  return a.evaluate(async (pings) => {
    const channel = (window as unknown as PageWindow).rawChannel
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
  }, PINGS)
}

async function rawBulk(a: Page): Promise<number> {
  return a.evaluate(async (totalMiB) => {
    const channel = (window as unknown as PageWindow).rawChannel
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
  }, BULK_MIB)
}

async function main(): Promise<void> {
  const server = await startCohortServer()
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: chromiumArgs,
  })
  try {
    const host = await createRoomAsHost(browser, server)
    const a = await joinAsDevice(browser, host.joinUrl)
    const b = await joinAsDevice(browser, host.joinUrl)
    await waitForOpenLinks(a.page, 2)
    await waitForOpenLinks(b.page, 2)
    await connectRaw(a.page, b.page)
    await startRawReceiver(b.page)

    const meshPings: number[] = []
    const rawPings: number[] = []
    const meshRates: number[] = []
    const rawRates: number[] = []
    // Alternate the two paths round by round so machine noise hits both alike.
    for (let round = 0; round < ROUNDS; round++) {
      rawPings.push(...(await rawPing(a.page)))
      meshPings.push(...(await meshPing(a.page, b.deviceId)))
      rawRates.push(await rawBulk(a.page))
      meshRates.push(await meshBulk(a.page, b.page, b.deviceId))
      console.error(
        `round ${round + 1}/${ROUNDS}: raw ${rawRates.at(-1)?.toFixed(1)} MB/s, mesh ${meshRates.at(-1)?.toFixed(1)} MB/s`,
      )
    }
    const result = {
      date: new Date().toISOString(),
      machine:
        'two headless Chromium pages (separate contexts, one browser) on this machine, loopback ICE',
      pings: PINGS * ROUNDS,
      bulkMiB: BULK_MIB,
      rounds: ROUNDS,
      ping: {
        mesh: { medianMs: median(meshPings), p95Ms: percentile(meshPings, 95) },
        raw: { medianMs: median(rawPings), p95Ms: percentile(rawPings, 95) },
      },
      goodputMBps: {
        mesh: { median: median(meshRates), all: meshRates },
        raw: { median: median(rawRates), all: rawRates },
        ratio: median(meshRates) / median(rawRates),
      },
    }
    mkdirSync('bench/results', { recursive: true })
    const file = `bench/results/mesh-${result.date.slice(0, 10)}.json`
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`)
    const f = (n: number) => n.toFixed(2)
    console.log(`| path | ping median | ping p95 | goodput (median MB/s) |
| --- | --- | --- | --- |
| raw RTCDataChannel | ${f(result.ping.raw.medianMs)} ms | ${f(result.ping.raw.p95Ms)} ms | ${f(result.goodputMBps.raw.median)} |
| Cohort mesh (tensor path) | ${f(result.ping.mesh.medianMs)} ms | ${f(result.ping.mesh.p95Ms)} ms | ${f(result.goodputMBps.mesh.median)} |

mesh / raw goodput: ${f(result.goodputMBps.ratio)}x (target >= 0.9x). Written to ${file}.`)
  } finally {
    await browser.close()
    await server.stop()
  }
}

await main()
