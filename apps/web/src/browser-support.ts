/**
 * What a browser must have to take part in a room, checked before a device page or dashboard
 * starts: without it the page would sit at "Joining…" (or a link that never opens) with no
 * reason given.
 */

/** One capability a browser lacks, and why Cohort needs it. */
export interface MissingFeature {
  readonly feature: string
  readonly needed: string
}

/** The parts of `globalThis` the check reads. */
export interface BrowserGlobals {
  readonly RTCPeerConnection?: unknown
  readonly Worker?: unknown
  readonly WebAssembly?: unknown
}

const REQUIRED: readonly (MissingFeature & { readonly name: keyof BrowserGlobals })[] = [
  {
    name: 'RTCPeerConnection',
    feature: 'WebRTC (RTCPeerConnection)',
    needed: 'devices send inputs and answers to each other directly over WebRTC data channels',
  },
  {
    name: 'Worker',
    feature: 'Web Workers',
    needed: 'the models run in a worker, so the page stays responsive',
  },
  {
    name: 'WebAssembly',
    feature: 'WebAssembly',
    needed: 'onnxruntime runs the models as WebAssembly',
  },
]

/** The capabilities `globals` lacks (empty: the browser can join). */
export function missingFeatures(globals: BrowserGlobals): MissingFeature[] {
  return REQUIRED.filter(
    ({ name }) => typeof globals[name] !== 'function' && typeof globals[name] !== 'object',
  ).map(({ feature, needed }) => ({ feature, needed }))
}

/** What to use instead. */
export const SUPPORTED_BROWSERS =
  'a current Chrome, Edge, Firefox or Safari (on a phone: Chrome on Android, Safari on iOS), with WebRTC not switched off by a policy or an extension'
