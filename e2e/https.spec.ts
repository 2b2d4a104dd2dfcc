import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
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

// `npm start -- --https`: phones on a LAN only get a secure context (threads, WebGPU, wake lock,
// WebCrypto, the Cache API) over HTTPS, so a device joining over it must get all of that.
let server: CohortServer
test.afterEach(({ browser }, testInfo) => endTest(browser, server, testInfo))

test('a device joins over --https with a self-signed certificate and gets a secure, isolated context', async ({
  browser,
}) => {
  server = await startCohortServer({ https: true })
  expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
  const certificate = new X509Certificate(readFileSync(join(server.stateDir, 'tls-cert.pem')))
  expect(certificate.checkIP('127.0.0.1')).toBe('127.0.0.1')
  expect(certificate.subject).toContain('Cohort (self-signed)')

  const host = await createRoomAsHost(browser, server)
  await host.page.goto(`${host.page.url()}?task=digits`)
  // The dashboard shows (and encodes in its QR code) the https join URL.
  const joinUrl = await host.page.getByTestId('join-url').getAttribute('href')
  expect(joinUrl).toMatch(new RegExp(`^${server.url}/r/[0-9A-Z]{13}\\?task=digits$`))
  await expect(host.page.getByTestId('join-qr')).toHaveAttribute('src', /^data:image\/png/)

  const device = await joinAsDevice(browser, joinUrl as string)
  const context = await device.page.evaluate(() => ({
    secure: window.isSecureContext,
    isolated: window.crossOriginIsolated,
    protocol: location.protocol,
    wakeLock: 'wakeLock' in navigator,
  }))
  expect(context).toEqual({ secure: true, isolated: true, protocol: 'https:', wakeLock: true })

  // Models come over https into the Cache API, verified with WebCrypto (both need a secure context).
  await expect(device.page.getByTestId('models')).toHaveAttribute('data-phase', 'ready', {
    timeout: 90_000,
  })
  await expect(device.page.getByTestId('storage')).toHaveAttribute('data-kind', 'cache-api')
  await expect(device.page.getByTestId('storage')).toContainText('WebCrypto')

  // Signaling over wss and a WebRTC data channel between the two pages.
  await waitForOpenLinks(device.page, 1)
  const echoes = await echoAll(device.page, 64 * 1024)
  expect(echoes).toHaveLength(1)
  expect(echoes[0]).toMatchObject({ identical: true, error: null })
})

test('the self-signed certificate is generated once and reused after a restart', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'cohort-e2e-https-'))
  server = await startCohortServer({ https: true, stateDir })
  const first = readFileSync(join(stateDir, 'tls-cert.pem'), 'utf8')
  await server.stop()
  server = await startCohortServer({ https: true, stateDir })
  expect(readFileSync(join(stateDir, 'tls-cert.pem'), 'utf8')).toBe(first)
  // The restarted server really serves that certificate.
  const served = await new Promise<string>((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port: server.port, rejectUnauthorized: false },
      () => {
        resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '')
        socket.end()
      },
    )
    socket.once('error', reject)
  })
  expect(served).toBe(new X509Certificate(first).fingerprint256)
  await server.stop()
  rmSync(stateDir, { recursive: true, force: true })
})
