import { describe, expect, it } from 'vitest'
import { missingFeatures } from './browser-support.ts'

describe('missingFeatures', () => {
  const everything = { RTCPeerConnection: () => {}, Worker: () => {}, WebAssembly: {} }

  it('finds nothing missing in a browser that has it all', () => {
    expect(missingFeatures(everything)).toEqual([])
  })

  it('names each missing capability and why a room needs it', () => {
    const { RTCPeerConnection: _, ...noWebRtc } = everything
    expect(missingFeatures(noWebRtc).map((m) => m.feature)).toEqual(['WebRTC (RTCPeerConnection)'])
    expect(missingFeatures({}).map((m) => m.feature)).toEqual([
      'WebRTC (RTCPeerConnection)',
      'Web Workers',
      'WebAssembly',
    ])
    expect(missingFeatures({ ...everything, Worker: undefined })[0]?.needed).toMatch(/worker/)
  })
})
