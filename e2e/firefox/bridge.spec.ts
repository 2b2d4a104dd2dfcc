import { expect, test } from '@playwright/test'
import { type CohortServer, endTest, newMemberContext, startCohortServer } from '../harness.ts'

// The Firefox launcher itself (browsers.ts, firefox/bidi-bridge.mjs): without the bridge, this
// Firefox fails every new context, and without the camera/microphone permission it stores, a
// page gathers no loopback candidate, so no two pages on one machine can link.

let server: CohortServer
test.beforeEach(async () => {
  server = await startCohortServer()
})
test.afterEach(({ browser }, testInfo) => endTest(browser, server, testInfo))

test('Firefox under the bridge opens contexts, gathers loopback candidates and links two connections over loopback', async ({
  browser,
}) => {
  expect(browser.browserType().name()).toBe('firefox')
  const context = await newMemberContext(browser)
  const page = await context.newPage()
  await page.goto(server.url)
  const outcome = await page.evaluate(async () => {
    const a = new RTCPeerConnection()
    const b = new RTCPeerConnection()
    const candidates: string[] = []
    a.onicecandidate = (event) => {
      if (!event.candidate) return
      candidates.push(event.candidate.candidate)
      void b.addIceCandidate(event.candidate)
    }
    b.onicecandidate = (event) => {
      if (event.candidate) void a.addIceCandidate(event.candidate)
    }
    const channel = a.createDataChannel('probe')
    const echoed = new Promise<string>((resolve) => {
      b.ondatachannel = (event) => {
        event.channel.onmessage = (message) => resolve(String(message.data))
      }
    })
    const opened = new Promise((resolve) => {
      channel.onopen = resolve
    })
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription as RTCSessionDescriptionInit)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription as RTCSessionDescriptionInit)
    await opened
    channel.send('over loopback')
    const message = await echoed
    a.close()
    b.close()
    return { candidates, message }
  })
  expect(outcome.message).toBe('over loopback')
  // Loopback host candidates: what the stored media permission lets Firefox gather.
  expect(outcome.candidates.some((candidate) => candidate.includes(' 127.0.0.1 '))).toBe(true)
  // A colour-scheme emulation is answered by the bridge (a no-op on this Firefox), not refused.
  await page.emulateMedia({ colorScheme: 'dark' })
})
