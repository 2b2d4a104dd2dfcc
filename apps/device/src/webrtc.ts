import { spacedTurns, type WebRtcImplementation } from '@cohort/mesh'
import wrtc from '@roamhq/wrtc'

/**
 * ms between two new peer connections in this process. Measured here: twenty made back to back
 * gathered 8 to 72 candidates each (libwebrtc adds a TCP candidate per network to every
 * connection still gathering when another starts: 1,800 descriptors); 100 ms apart, 8 to 12;
 * 150 ms apart, 8 each (400 descriptors).
 */
export const PEER_CONNECTION_GAP_MS = 150

/**
 * Node's WebRTC: `@roamhq/wrtc` (libwebrtc, prebuilt per platform as a registry package; no
 * install script runs). Chosen over node-datachannel by trying both with simple-peer on this
 * machine: wrtc connected as is (round trip 0.15 ms median over loopback, 25 MB/s bulk), while
 * node-datachannel's polyfill needed a shim for simple-peer to set `sdp` and then refused remote
 * candidates that arrived before its ICE transport existed. wrtc never fires
 * `bufferedamountlow`; the mesh polls the send queue instead. Its connections are made one at
 * a time, PEER_CONNECTION_GAP_MS apart, for every device of the process together.
 */
export const webrtc: WebRtcImplementation = {
  RTCPeerConnection: wrtc.RTCPeerConnection,
  RTCSessionDescription: wrtc.RTCSessionDescription,
  RTCIceCandidate: wrtc.RTCIceCandidate,
  admit: spacedTurns(PEER_CONNECTION_GAP_MS),
  usesCandidate: isUdpCandidate,
}

/**
 * `candidate:<foundation> <component> <transport> …`: UDP candidates only (see usesCandidate),
 * and the empty one that ends gathering.
 */
export function isUdpCandidate(candidate: string): boolean {
  return candidate === '' || candidate.split(' ')[2]?.toLowerCase() === 'udp'
}
