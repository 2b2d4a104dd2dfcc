import { describe, expect, it } from 'vitest'
import { headlines, renderMarkdown } from './report-markdown.ts'
import { sampleReport } from './testing/sample-report.ts'

const markdown = renderMarkdown(sampleReport, [
  { file: '2026-11-22/latency.svg', title: 'Latency' },
])
const rowOf = (start: string) => markdown.split('\n').find((line) => line.startsWith(start))

describe('renderMarkdown', () => {
  it('states the run, the machine and what the machine cannot show', () => {
    expect(markdown).toMatch(/^# Cohort benchmark, 2026-11-22\n/)
    expect(markdown).toContain('task `fashion`, 6 device pages + the dashboard, 100 test samples')
    expect(markdown).toContain('Commit `0123456789`;')
    const dirty = { ...sampleReport, machine: { ...sampleReport.machine, uncommitted: ['a.ts'] } }
    expect(renderMarkdown(dirty, [])).toContain(
      'Commit `0123456789` plus uncommitted changes to `a.ts`;',
    )
    expect(markdown).toContain('| Test CPU | 2 | 8 GB | Linux 6.1 | v20.0.0 | 156.0.0.0 | 1.50 |')
    expect(markdown).toContain('## What this machine cannot show')
    expect(markdown).toContain('All 7 pages share 2 cores')
    expect(markdown).toContain('Pages of one headless Chromium.')
  })

  it('gives every scenario its medians, p95 and ratios against the baselines of the same run', () => {
    // 20 ms vs the single teacher's 10 ms; vs the ensemble floor of 4 ms.
    expect(rowOf('| ensemble, all members | no failure |')).toBe(
      '| ensemble, all members | no failure | 20.00 | 40.00 | 2.00× | 5.00× | 92.00% | 25,000 | 100/100 | 0 | 0 |',
    )
    // A failure row is compared with the single teacher under failure (10 ms too), bytes not counted.
    expect(rowOf('| ensemble, all members | device closed mid-run |')).toBe(
      '| ensemble, all members | device closed mid-run | 30.00 | 60.00 | 3.00× | 7.50× | 92.00% | — | 100/100 | 3 | 0 |',
    )
    expect(rowOf('| single teacher | device closed mid-run |')).toContain('| 25/100 | 0 | 75 |')
  })

  it('gives the ensemble with each K pinned, against the single teacher of the same run', () => {
    expect(markdown).toContain("the rows above use the planner's choice, K = ")
    // K = 2: 20 ms, twice the single teacher's 10 ms.
    expect(rowOf('| 1 |')).toBe(
      '| 1 | 6 | no | 2.00 | 10.00 | 20.00 | 1.00× | 91.00% | 92.00% | 100/100 | 0 |',
    )
    expect(rowOf('| 2 |')).toBe(
      '| 2 | 3 + 3 | yes | 4.00 | 20.00 | 40.00 | 2.00× | 92.00% | 93.00% | 100/100 | 0 |',
    )
  })

  it('gives every mode at every window, against the single teacher at the same window', () => {
    expect(markdown).toContain('### Requests in flight')
    expect(rowOf('| 8 | ensemble (all members) |')).toBe(
      '| 8 | ensemble (all members) | 800.0 | 2.00× | 1600.0 | 0.50× | 13.00 | 5.00 | 18.00 | 100/100 | 0 |',
    )
    expect(rowOf('| 1 | early exit |')).toBe(
      '| 1 | early exit | 150.0 | 3.00× | 200.0 | 0.75× | 6.00 | 5.00 | 11.00 | 100/100 | 0 |',
    )
    // The single teacher is not a plan: no prediction.
    expect(rowOf('| 8 | single teacher |')).toBe(
      '| 8 | single teacher | 400.0 | 1.00× | — | — | 13.00 | — | 18.00 | 100/100 | 0 |',
    )
  })

  it('tabulates early exits, failures, floors and micro-benchmarks', () => {
    expect(rowOf('| early exit, calibrated | no failure | 87')).toBe(
      '| early exit, calibrated | no failure | 87 / 13 / 0 | 84.2% | 400 | 0 |',
    )
    expect(rowOf('| ensemble, all members | device closed mid-run | 2 (a, d) |')).toBe(
      '| ensemble, all members | device closed mid-run | 2 (a, d) | 26 | 100/100 | 3 | 0 | 30.00 | 60.00 |',
    )
    expect(markdown).toContain(
      '| raw RTCDataChannel round trip, dashboard ↔ device | 0.50 | 1.00 | — |',
    )
    expect(rowOf('| raw `session.run` of `teacher` |')).toBe(
      '| raw `session.run` of `teacher` | 4.50 | 6.00 | 9.00 |',
    )
    expect(markdown).toContain('own raw `session.run` took 2.00× as long as before')
    expect(markdown).toContain('single teacher: teacher run + raw round trip = **5.00 ms**')
    expect(markdown).toContain('Mesh / raw goodput: **0.84×**.')
    expect(markdown).toContain('1 of 3 mesh rounds lost their link mid-transfer')
    expect(markdown).toContain('round 2: Error: peer b is gone (closed)')
    expect(rowOf('| `teacher` |')).toBe('| `teacher` | 4.00 | 5.00 | 5.00 | 7.00 | 1.25× |')
    expect(markdown).toContain('**Failed** — runtime: the page crashed')
    expect(rowOf('| 10 |')).toBe('| 10 | 0.50 | 1.00 | 2 | 3.25 |')
  })

  it('opens with headlines: losses under failure, the stragglers effect, ratios and accuracy', () => {
    expect(headlines(sampleReport)).toEqual([
      'Devices closed mid-run: single teacher lost 75/100 (degraded 0); ensemble, all members lost 0/100 (degraded 3).',
      'Devices frozen mid-run (noticed by missed heartbeats): ensemble, all members lost 0/100 (degraded 1).',
      "Without failures, p50 against the single teacher's 10.00 ms: ensemble, all members 2.00×, early exit, calibrated 0.20×; accuracy single teacher 92.00%, ensemble, all members 92.00%, early exit, calibrated 92.00%.",
      `Ensemble with K pinned, p50: K = 1 10.00 ms, K = 2 20.00 ms; the planner chose K = ${sampleReport.room.k}; the fastest measured was K = 1, and of the Ks meeting the resilience target, K = 2.`,
    ])
    const slowed = {
      ...sampleReport,
      scenarios: [
        ...sampleReport.scenarios,
        {
          ...sampleReport.scenarios[0]!,
          condition: 'slowed' as const,
          latency: { count: 100, p50Ms: 60, p95Ms: 90, meanMs: 60 },
        },
      ],
    }
    expect(headlines(slowed)[2]).toBe(
      'Stragglers slowed 6×, p50 without → with: single teacher 10.00 → 60.00 ms (6.00×).',
    )
    expect(markdown).toContain(
      '## Headlines\n\n- Devices closed mid-run: single teacher lost 75/100',
    )
  })

  it('links the charts', () => {
    expect(markdown).toContain('![Latency](2026-11-22/latency.svg)')
  })
})
