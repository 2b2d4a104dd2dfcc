#!/usr/bin/env node
/**
 * Firefox for Playwright's WebDriver BiDi backend, as an executable Playwright can launch
 * (`firefox.launch({ channel: 'moz-firefox', executablePath: <this file> })`). It starts the real
 * Firefox (FIREFOX_PATH, default Debian's /usr/bin/firefox-esr) with Playwright's arguments and
 * stands between the two on the BiDi WebSocket, filling two gaps of Firefox ESR 153 under
 * Playwright 1.65:
 *  1. `emulation.setMediaFeaturesOverride`, sent on every new context, is unknown to this Firefox
 *     and fails `newContext()`: answered here with an empty success (media emulation is a no-op).
 *  2. `permissions.setPermission` for camera and microphone is unsupported by Firefox's BiDi, so
 *     a context's `permissions` grant nothing. Without a stored camera/microphone permission
 *     Firefox gathers ICE candidates on the default-route interface only: never loopback, so two
 *     pages on one machine cannot link. The bridge stores the permission itself, with a script in
 *     Firefox's privileged scope (allowed by MOZ_REMOTE_ALLOW_SYSTEM_ACCESS, set for Firefox only).
 * Everything else passes through unchanged. COHORT_BIDI_LOG=1 logs what the bridge did.
 */
import { spawn } from 'node:child_process'
import { WebSocket, WebSocketServer } from 'ws'

const FIREFOX = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr'
/** Answered here with an empty success: commands this Firefox does not know. */
const ANSWERED_HERE = new Set(['emulation.setMediaFeaturesOverride'])
/** Permissions the bridge stores itself. */
const MEDIA = new Set(['camera', 'microphone'])
/** Ids of the bridge's own commands to Firefox: far above Playwright's, never forwarded back. */
const OWN_IDS_FROM = 2 ** 40
const LISTENING = /WebDriver BiDi listening on (ws:\/\/\S+)$/

const log = (line) => {
  if (process.env.COHORT_BIDI_LOG) process.stderr.write(`[bidi-bridge] ${line}\n`)
}

const firefox = spawn(FIREFOX, process.argv.slice(2), {
  stdio: ['inherit', 'inherit', 'pipe'],
  env: { ...process.env, MOZ_REMOTE_ALLOW_SYSTEM_ACCESS: '1' },
})
firefox.on('error', (error) => {
  process.stderr.write(
    `bidi-bridge: cannot start ${FIREFOX}: ${error.message} (set FIREFOX_PATH)\n`,
  )
  process.exit(1)
})
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => firefox.kill(signal))
firefox.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))

// Playwright reads Firefox's stderr for the BiDi address: it gets the bridge's instead.
let pending = ''
firefox.stderr.on('data', (chunk) => {
  pending += chunk.toString()
  for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
    const line = pending.slice(0, end)
    pending = pending.slice(end + 1)
    const listening = LISTENING.exec(line)
    if (!listening) process.stderr.write(`${line}\n`)
    else
      void bridge(listening[1]).then((port) =>
        process.stderr.write(`WebDriver BiDi listening on ws://127.0.0.1:${port}\n`),
      )
  }
})

/** A privileged script that stores (or clears) a permission for an origin in a user context. */
function permissionScript(origin, name, state, userContext) {
  return `(() => {
    const { UserContextManager } = ChromeUtils.importESModule('chrome://remote/content/shared/UserContextManager.sys.mjs');
    let principal = Services.scriptSecurityManager.createContentPrincipalFromOrigin(${JSON.stringify(origin)});
    const context = ${JSON.stringify(userContext ?? null)};
    const internal = context === null ? 0 : UserContextManager.getInternalIdById(context);
    if (internal) principal = Services.scriptSecurityManager.principalWithOA(principal, { userContextId: internal });
    const state = ${JSON.stringify(state)};
    if (state === 'prompt') Services.perms.removeFromPrincipal(principal, ${JSON.stringify(name)});
    else Services.perms.addFromPrincipal(principal, ${JSON.stringify(name)}, state === 'granted' ? Services.perms.ALLOW_ACTION : Services.perms.DENY_ACTION);
    return principal.origin;
  })()`
}

/** Listens on a loopback port; each connection there is relayed to Firefox's `upstream`. */
function bridge(upstream) {
  return new Promise((resolve) => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    server.on('listening', () => resolve(server.address().port))
    server.on('connection', (client, request) =>
      relay(client, `${upstream.replace(/\/$/, '')}${request.url}`),
    )
  })
}

function relay(client, url) {
  const firefoxSocket = new WebSocket(url, { perMessageDeflate: false })
  const queued = []
  const own = new Map()
  let nextId = OWN_IDS_FROM
  let chromeContext = null
  const toFirefox = (text) => {
    if (firefoxSocket.readyState === WebSocket.OPEN) firefoxSocket.send(text)
    else queued.push(text)
  }
  /** A command of the bridge's own; its reply stays here. */
  const command = (method, params) =>
    new Promise((resolve, reject) => {
      const id = nextId++
      own.set(id, { resolve, reject })
      toFirefox(JSON.stringify({ id, method, params }))
    })
  const grant = async ({ descriptor, state, origin, userContext }) => {
    if (!chromeContext) {
      const tree = await command('browsingContext.getTree', { 'moz:scope': 'chrome', maxDepth: 0 })
      chromeContext = tree.contexts[0].context
    }
    const result = await command('script.evaluate', {
      expression: permissionScript(origin, descriptor.name, state, userContext),
      target: { context: chromeContext },
      awaitPromise: false,
    })
    if (result.type === 'exception') throw new Error(result.exceptionDetails?.text ?? 'exception')
    log(`${descriptor.name} ${state} for ${result.result?.value}`)
  }
  const reply = (id, result) => client.send(JSON.stringify({ type: 'success', id, result }))

  firefoxSocket.on('open', () => {
    for (const text of queued.splice(0)) firefoxSocket.send(text)
  })
  firefoxSocket.on('message', (data) => {
    const text = data.toString()
    if (text.includes('"id":')) {
      const message = parse(text)
      const waiter = message && own.get(message.id)
      if (waiter) {
        own.delete(message.id)
        if (message.type === 'error')
          waiter.reject(new Error(`${message.error}: ${message.message}`))
        else waiter.resolve(message.result)
        return
      }
    }
    client.send(text)
  })
  firefoxSocket.on('close', () => client.close())
  firefoxSocket.on('error', () => client.close())
  client.on('close', () => firefoxSocket.close())
  client.on('message', (data) => {
    const text = data.toString()
    const message = parse(text)
    if (message && ANSWERED_HERE.has(message.method)) {
      log(`answered ${message.method}`)
      reply(message.id, {})
      return
    }
    const permission = message?.method === 'permissions.setPermission' ? message.params : null
    if (permission && MEDIA.has(permission.descriptor?.name)) {
      grant(permission).then(
        () => reply(message.id, {}),
        (error) => {
          log(`could not store ${permission.descriptor.name}: ${error.message}`)
          client.send(
            JSON.stringify({
              type: 'error',
              id: message.id,
              error: 'unknown error',
              message: `bidi-bridge: ${error.message}`,
            }),
          )
        },
      )
      return
    }
    toFirefox(text)
  })
}

function parse(text) {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}
