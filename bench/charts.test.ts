import { describe, expect, it } from 'vitest'
import { buildCharts, renderSvg } from './charts.ts'
import { sampleReport } from './testing/sample-report.ts'

const charts = buildCharts(sampleReport)
const valuesOf = (name: string) => {
  const chart = charts.find((c) => c.name === name)
  if (!chart) throw new Error(`no chart ${name}`)
  const spec = chart.spec as {
    data?: { values: unknown[] }
    layer?: { data?: { values: unknown[] } }[]
  }
  return spec.data?.values ?? spec.layer?.[0]?.data?.values ?? []
}

describe('buildCharts', () => {
  it('builds one chart per figure of the report, with unique file names', () => {
    expect(charts.every((c) => (c.spec as { title?: string }).title === c.title)).toBe(true)
    expect(charts.map((c) => c.name)).toEqual([
      'latency',
      'ratio-to-single',
      'failures',
      'exits',
      'bytes',
    ])
  })

  it('plots every scenario, its ratio to the single teacher, exits, failures and bytes from the JSON', () => {
    expect(valuesOf('latency')).toContainEqual({
      scenario: 'ensemble, all members',
      condition: 'device closed mid-run',
      p50: 30,
      p95: 60,
    })
    expect(valuesOf('ratio-to-single')).toContainEqual({
      scenario: 'ensemble, all members',
      condition: 'no failure',
      ratio: 2,
    })
    expect(valuesOf('ratio-to-single')).not.toContainEqual(
      expect.objectContaining({ scenario: 'single teacher' }),
    )
    expect(valuesOf('failures')).toEqual([
      { scenario: 'single teacher, device closed mid-run', outcome: 'answered', count: 25 },
      { scenario: 'single teacher, device closed mid-run', outcome: 'degraded', count: 0 },
      { scenario: 'single teacher, device closed mid-run', outcome: 'lost', count: 75 },
      { scenario: 'ensemble, all members, device closed mid-run', outcome: 'answered', count: 97 },
      { scenario: 'ensemble, all members, device closed mid-run', outcome: 'degraded', count: 3 },
      { scenario: 'ensemble, all members, device closed mid-run', outcome: 'lost', count: 0 },
      { scenario: 'ensemble, all members, device frozen mid-run', outcome: 'answered', count: 99 },
      { scenario: 'ensemble, all members, device frozen mid-run', outcome: 'degraded', count: 1 },
      { scenario: 'ensemble, all members, device frozen mid-run', outcome: 'lost', count: 0 },
    ])
    expect(valuesOf('exits')).toEqual([
      { scenario: 'early exit, calibrated, no failure', exit: 'mobile (segment 1)', count: 87 },
      { scenario: 'early exit, calibrated, no failure', exit: 'edge (segment 2)', count: 13 },
      { scenario: 'early exit, calibrated, no failure', exit: 'cloud (segment 3)', count: 0 },
    ])
    expect(valuesOf('bytes')).toEqual([
      { scenario: 'single teacher', bytes: 4_000 },
      { scenario: 'ensemble, all members', bytes: 25_000 },
      { scenario: 'early exit, calibrated', bytes: 500 },
    ])
  })

  it('renders each spec to an SVG document in Node', async () => {
    for (const chart of charts) {
      const svg = await renderSvg(chart.spec)
      expect(svg.startsWith('<svg')).toBe(true)
      expect(svg).toContain('</svg>')
    }
    // The axis shows the scenarios by name.
    expect(await renderSvg(charts[0]!.spec)).toContain('ensemble, all members')
  })
})
