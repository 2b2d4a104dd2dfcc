/** Facts of the machine a benchmark ran on, read once at the start of the run. */
import { execFileSync } from 'node:child_process'
import { cpus, loadavg, release, totalmem, type } from 'node:os'
import type { MachineFacts } from './report-types.ts'

function git(...args: string[]): string {
  return execFileSync('git', args, { encoding: 'utf8' })
}

/** The machine's facts; `chromium` is the browser's own version string. */
export function machineFacts(chromium: string): MachineFacts {
  const cores = cpus()
  return {
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    cores: cores.length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    node: process.version,
    chromium,
    commit: git('rev-parse', 'HEAD').trim(),
    // Porcelain lines are 'XY path'.
    uncommitted: git('status', '--porcelain', '--untracked-files=no')
      .split('\n')
      .map((line) => line.slice(3))
      .filter((path) => path !== ''),
    loadAverage: loadavg()[0] ?? 0,
  }
}
