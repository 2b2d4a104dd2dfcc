/** Memory readings of the soak: a process's RSS from /proc, and a line fitted to samples. */
import { readdirSync, readFileSync } from 'node:fs'

/** Resident set size of one process in bytes (0 when it is gone). */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]
    return kb ? Number(kb) * 1024 : 0
  } catch {
    return 0
  }
}

/** RSS of every process whose command is `name`, summed (shared pages are counted in each). */
export function rssOfCommand(name: string): number {
  let total = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name)
        total += rssBytes(Number(entry))
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return total
}

/** Least-squares slope of `y` over `x` and its standard error; null for fewer than 3 points. */
export function fitSlope(
  points: readonly { readonly x: number; readonly y: number }[],
): { slope: number; standardError: number } | null {
  const n = points.length
  if (n < 3) return null
  const meanX = points.reduce((sum, p) => sum + p.x, 0) / n
  const meanY = points.reduce((sum, p) => sum + p.y, 0) / n
  let sxx = 0
  let sxy = 0
  for (const p of points) {
    sxx += (p.x - meanX) ** 2
    sxy += (p.x - meanX) * (p.y - meanY)
  }
  if (sxx === 0) return null
  const slope = sxy / sxx
  const residuals = points.reduce((sum, p) => sum + (p.y - meanY - slope * (p.x - meanX)) ** 2, 0)
  return { slope, standardError: Math.sqrt(residuals / (n - 2) / sxx) }
}
