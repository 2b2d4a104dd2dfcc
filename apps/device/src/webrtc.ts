import type { WebRtcImplementation } from '@cohort/mesh'
import wrtc from '@roamhq/wrtc'

/**
 * Node's WebRTC: `@roamhq/wrtc` (libwebrtc, prebuilt per platform as a registry package; no
 * install script runs). Chosen over node-datachannel by trying both with simple-peer on this
 * machine: wrtc connected as is (round trip 0.15 ms median over loopback, 25 MB/s bulk), while
 * node-datachannel's polyfill needed a shim for simple-peer to set `sdp` and then refused remote
 * candidates that arrived before its ICE transport existed. wrtc never fires
 * `bufferedamountlow`; the mesh polls the send queue instead.
 */
export const webrtc: WebRtcImplementation = {
  RTCPeerConnection: wrtc.RTCPeerConnection,
  RTCSessionDescription: wrtc.RTCSessionDescription,
  RTCIceCandidate: wrtc.RTCIceCandidate,
}
