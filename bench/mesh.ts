/**
 * Mesh micro-benchmark: between two headless Chromium device pages, ping round trip and bulk
 * tensor goodput through Cohort's mesh and through a raw RTCDataChannel on the same pair,
 * alternating round by round so machine noise hits both alike.
 */
import { quantile } from '@cohort/protocol'
import type { Browser, Page } from '@playwright/test'
import {
  type CohortServer,
  createRoomAsHost,
  joinAsDevice,
  waitForModelsReady,
  waitForOpenLinks,
} from '../e2e/harness.ts'
import { connectRaw, meshPing, rawBulk, rawPing, startRawReceiver } from './raw-channel.ts'
import type { MeshResult } from './report-types.ts'
import { summarize } from './stats.ts'

const TENSOR_MIB = 4

type MeshWindow = Window & { cohort: { mesh: import('@cohort/mesh').Mesh } }

async function meshBulk(sender: Page, receiver: Page, peer: string, totalMiB: number) {
  await receiver.evaluate(() => {
    ;(window as unknown as MeshWindow).cohort.mesh.handle('sink', async () => ({ frames: [] }))
  })
  return sender.evaluate(
    async ({ peer, totalMiB, tensorMiB }) => {
      const { mesh } = (window as unknown as MeshWindow).cohort
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
            { deadlineMs: 60_000 },
          )
          if (!outcome.ok) throw new Error(outcome.error.message)
        }
      }
      await Promise.all([lane(), lane(), lane(), lane()])
      const seconds = (performance.now() - started) / 1000
      return (totalMiB * 1024 * 1024) / seconds / 1e6
    },
    { peer, totalMiB, tensorMiB: TENSOR_MIB },
  )
}

/** Measures the mesh against the raw channel in a room of its own (two devices). */
export async function measureMesh(
  browser: Browser,
  server: CohortServer,
  options: { pings: number; bulkMiB: number; rounds: number },
): Promise<MeshResult> {
  const host = await createRoomAsHost(browser, server)
  const a = await joinAsDevice(browser, host.joinUrl)
  const b = await joinAsDevice(browser, host.joinUrl)
  try {
    await waitForOpenLinks(a.page, 2)
    await waitForOpenLinks(b.page, 2)
    // Measure the channels, not model loading: a device page downloads, verifies, calibrates and
    // profiles its models right after joining, which on two shared cores starves the pages'
    // network threads for seconds (long enough for heartbeats to miss and links to drop).
    for (const device of [a, b]) await waitForModelsReady(device.page)
    await connectRaw(a.page, b.page)
    await startRawReceiver(b.page, options.bulkMiB * 1024 * 1024)
    const meshPings: number[] = []
    const rawPings: number[] = []
    const meshRates: number[] = []
    const rawRates: number[] = []
    const droppedRounds: { round: number; error: string }[] = []
    for (let round = 0; round < options.rounds; round++) {
      rawPings.push(...(await rawPing(a.page, options.pings)))
      meshPings.push(...(await meshPing(a.page, b.deviceId, options.pings)))
      rawRates.push(await rawBulk(a.page, options.bulkMiB))
      try {
        meshRates.push(await meshBulk(a.page, b.page, b.deviceId, options.bulkMiB))
      } catch (error) {
        // On two loaded cores the loopback SCTP association can stall for seconds mid-transfer
        // (bufferedAmount frozen): longer than the 2 s failure detector, which then drops the link.
        // Report the round as dropped and go on once the link is re-formed.
        droppedRounds.push({ round: round + 1, error: String(error).split('\n')[0] ?? '' })
        await waitForOpenLinks(a.page, 2)
        await waitForOpenLinks(b.page, 2)
      }
      console.error(
        `mesh round ${round + 1}/${options.rounds}: raw ${rawRates.at(-1)?.toFixed(1)} MB/s, mesh ${droppedRounds.at(-1)?.round === round + 1 ? 'link dropped' : `${meshRates.at(-1)?.toFixed(1)} MB/s`}`,
      )
    }
    if (meshRates.length === 0)
      throw new Error(`every mesh round lost its link: ${droppedRounds[0]?.error}`)
    return {
      rounds: options.rounds,
      pings: options.pings * options.rounds,
      bulkMiB: options.bulkMiB,
      ping: { mesh: summarize(meshPings), raw: summarize(rawPings) },
      goodputMBps: {
        mesh: meshRates,
        raw: rawRates,
        ratio: quantile(meshRates, 0.5) / quantile(rawRates, 0.5),
      },
      droppedRounds,
    }
  } finally {
    for (const member of [a, b, host]) await member.context.close()
  }
}
