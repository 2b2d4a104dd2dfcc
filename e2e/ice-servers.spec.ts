import { expect, test } from '@playwright/test'
import {
  type CohortServer,
  createRoomAsHost,
  echoAll,
  endTest,
  joinAsDevice,
  startCohortServer,
  waitForOpenLinks,
} from './harness.ts'

// STUN/TURN servers given to `npm start -- --ice '<json>'` must reach every RTCPeerConnection a
// device opens (across NATs and client-isolated Wi-Fi that is what makes links possible at all).
// Nothing listens on this port: gathering from it fails fast and the loopback host candidates win.
const ICE_SERVERS = [
  { urls: 'stun:127.0.0.1:9' },
  { urls: ['turn:127.0.0.1:9?transport=udp'], username: 'cohort', credential: 'secret' },
]

// Keeps every RTCPeerConnection the page creates, so the test can read its configuration.
const RECORD_PEER_CONNECTIONS = `
  const Native = window.RTCPeerConnection
  window.cohortPeerConnections = []
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args)
      window.cohortPeerConnections.push(this)
    }
  }
`

let server: CohortServer
test.afterEach(({ browser }, testInfo) => endTest(browser, server, testInfo))

test('ICE servers from --ice reach the peer connections of every member', async ({ browser }) => {
  server = await startCohortServer({ args: ['--ice', JSON.stringify(ICE_SERVERS)] })
  const options = { initScript: RECORD_PEER_CONNECTIONS }
  const host = await createRoomAsHost(browser, server, options)
  const device = await joinAsDevice(browser, host.joinUrl, options)
  await waitForOpenLinks(device.page, 1)
  for (const page of [host.page, device.page]) {
    const configured = await page.evaluate(() =>
      (
        window as unknown as { cohortPeerConnections: RTCPeerConnection[] }
      ).cohortPeerConnections.map((pc) => pc.getConfiguration().iceServers),
    )
    expect(configured.length).toBeGreaterThan(0)
    for (const servers of configured) {
      expect(servers).toMatchObject([
        { urls: ['stun:127.0.0.1:9'] },
        { urls: ['turn:127.0.0.1:9?transport=udp'], username: 'cohort', credential: 'secret' },
      ])
    }
  }
  const echoes = await echoAll(device.page, 1024)
  expect(echoes).toMatchObject([{ identical: true, error: null }])
})
