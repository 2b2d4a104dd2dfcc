/**
 * Turns at least `gapMs` apart, in the order asked: each call resolves at its turn. For work
 * that misbehaves when started in bursts (Node's libwebrtc making peer connections).
 */
export function spacedTurns(gapMs: number, now = () => performance.now()): () => Promise<void> {
  let next = Number.NEGATIVE_INFINITY
  return () => {
    const at = Math.max(now(), next)
    next = at + gapMs
    const wait = at - now()
    return wait <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, wait))
  }
}
