import { describe, expect, it } from 'vitest'
import { contentSecurityPolicy, SECURITY_HEADERS, securityHeaders } from './security-headers.ts'

const directives = (policy: string) =>
  new Map(policy.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]))

describe('security headers', () => {
  it('let the app run its WASM, workers, sockets and QR code, and nothing else', () => {
    const policy = directives(contentSecurityPolicy())
    expect(policy.get('default-src')).toBe("'self'")
    expect(policy.get('script-src')).toBe("'self' 'wasm-unsafe-eval'")
    expect(policy.get('worker-src')).toBe("'self'")
    expect(policy.get('connect-src')).toBe("'self'")
    expect(policy.get('img-src')).toBe("'self' data:")
    expect(policy.get('style-src')).toBe("'self'")
    expect(policy.get('style-src-attr')).toBe("'unsafe-inline'")
    expect(policy.get('frame-ancestors')).toBe("'none'")
    expect(policy.get('object-src')).toBe("'none'")
    expect(policy.get('base-uri')).toBe("'self'")
    expect(policy.get('form-action')).toBe("'self'")
    expect(contentSecurityPolicy()).not.toMatch(/'unsafe-eval'|script-src[^;]*'unsafe-inline'/)
  })

  it('name the page host as the WebSocket source, in the page scheme', () => {
    expect(
      directives(contentSecurityPolicy({ host: '192.168.1.5:8443', secure: true })).get(
        'connect-src',
      ),
    ).toBe("'self' wss://192.168.1.5:8443")
    expect(directives(contentSecurityPolicy({ host: 'localhost:8080' })).get('connect-src')).toBe(
      "'self' ws://localhost:8080",
    )
  })

  it('allow style elements under Vite only', () => {
    const dev = directives(contentSecurityPolicy({ dev: true }))
    expect(dev.get('style-src')).toBe("'self' 'unsafe-inline'")
    expect(dev.get('script-src')).toBe("'self' 'wasm-unsafe-eval'")
  })

  it('are the same set for engine.io as for any request', () => {
    expect(SECURITY_HEADERS).toEqual(securityHeaders())
    expect(Object.keys(SECURITY_HEADERS).sort()).toEqual([
      'Content-Security-Policy',
      'Cross-Origin-Embedder-Policy',
      'Cross-Origin-Opener-Policy',
      'Cross-Origin-Resource-Policy',
      'Referrer-Policy',
      'X-Content-Type-Options',
      'X-Frame-Options',
    ])
  })
})
