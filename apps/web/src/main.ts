import { normalizeRoomCode } from '@cohort/protocol'
import { missingFeatures } from './browser-support.ts'
import { h, mount } from './dom.ts'

const root = document.getElementById('app')
if (!root) throw new Error('index.html has no #app element')

// Each view is its own chunk: a phone opening a join URL loads neither the QR code nor the dashboard.
const [, section, code] = location.pathname.split('/')
const room = code ? normalizeRoomCode(code) : null
// A member page needs WebRTC, workers and WebAssembly: without them, say so instead of joining.
const missing = missingFeatures(globalThis)
if ((section === 'r' || section === 'host') && room && missing.length > 0) {
  void import('./unsupported-page.ts').then(({ showUnsupported }) => showUnsupported(root, missing))
} else if (section === 'r' && room) {
  void import('./device-page.ts').then(({ showDevicePage }) => showDevicePage(root, room))
} else if (section === 'host' && room) {
  void import('./dashboard.ts').then(({ showDashboard }) => showDashboard(root, room))
} else if (!section) {
  void import('./landing.ts').then(({ showLanding }) => showLanding(root))
} else {
  mount(
    root,
    h('h1', {}, 'No such page'),
    h('p', {}, h('a', { href: '/' }, 'Go to the start page')),
  )
}
