/**
 * Turns at least `gapMs` apart: each call resolves at its turn, urgent ones before the others
 * that wait, each lane in the order asked. For work that misbehaves when started in bursts (Node's
 * libwebrtc making peer connections), where some of it cannot wait long (an answer to an offer
 * whose connect timeout is already running).
 */
export function spacedTurns(
  gapMs: number,
  now = () => performance.now(),
): (urgent?: boolean) => Promise<void> {
  const waiting: { readonly urgent: boolean; readonly go: () => void }[] = []
  let nextAt = Number.NEGATIVE_INFINITY
  let timer: ReturnType<typeof setTimeout> | undefined
  const pump = () => {
    timer = undefined
    if (waiting.length === 0) return
    const wait = nextAt - now()
    if (wait > 0) {
      timer = setTimeout(pump, wait)
      return
    }
    const urgent = waiting.findIndex((waiter) => waiter.urgent)
    const [next] = waiting.splice(Math.max(urgent, 0), 1)
    nextAt = now() + gapMs
    next?.go()
    if (waiting.length > 0) timer = setTimeout(pump, gapMs)
  }
  return (urgent = false) =>
    new Promise((resolve) => {
      waiting.push({ urgent, go: resolve })
      if (timer === undefined) pump()
    })
}
