/** The readable report (`bench/results/<date>.md`) of one run, from its JSON alone. */
import { median } from '@cohort/protocol'
import { baselineOf, CONDITION_LABELS, floorOf, MODE_LABELS } from './labels.ts'
import type { BenchReport, Condition, Mode, ScenarioResult } from './report-types.ts'
import { ratio } from './stats.ts'

/** A chart file next to the report, relative to the report's folder. */
export interface ChartLink {
  readonly file: string
  readonly title: string
}

const ms = (value: number | null) =>
  value === null || !Number.isFinite(value) ? '—' : value.toFixed(2)
const times = (value: number | null) => (value === null ? '—' : `${value.toFixed(2)}×`)
const whole = (value: number | null) =>
  value === null || !Number.isFinite(value) ? '—' : Math.round(value).toLocaleString('en-US')
const percent = (value: number | null, digits = 1) =>
  value === null || !Number.isFinite(value) ? '—' : `${value.toFixed(digits)}%`

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ]
}

const scenarioName = (row: ScenarioResult) => MODE_LABELS[row.mode]

function scenarioTable(report: BenchReport): string[] {
  return table(
    [
      'scenario',
      'condition',
      'p50 ms',
      'p95 ms',
      'p50 / single teacher',
      'p50 / floor',
      'accuracy',
      'bytes on the wire / request',
      'answered',
      'degraded',
      'lost',
    ],
    report.scenarios.map((row) => [
      scenarioName(row),
      CONDITION_LABELS[row.condition],
      ms(row.latency.p50Ms),
      ms(row.latency.p95Ms),
      times(ratio(row.latency.p50Ms, baselineOf(report, row)?.latency.p50Ms ?? null)),
      times(ratio(row.latency.p50Ms, floorOf(report, row.mode))),
      percent(row.accuracy, 2),
      whole(row.wireBytesPerRequest),
      `${row.answered}/${row.requests}`,
      String(row.degraded),
      String(row.lost),
    ]),
  )
}

function byKTable(report: BenchReport): string[] {
  const single = report.scenarios.find((row) => row.mode === 'single' && row.condition === 'normal')
    ?.latency.p50Ms
  return table(
    [
      'K (pinned)',
      'devices per group',
      'resilience target met',
      'predicted ms',
      'p50 ms',
      'p95 ms',
      'p50 / single teacher',
      'accuracy (sample)',
      'accuracy (manifest, test split)',
      'answered',
      'degraded',
    ],
    report.byK.map((row) => [
      String(row.k),
      row.groups.join(' + '),
      row.resilienceMet ? 'yes' : 'no',
      ms(row.predictedLatencyMs),
      ms(row.latency.p50Ms),
      ms(row.latency.p95Ms),
      times(ratio(row.latency.p50Ms, single ?? null)),
      percent(row.accuracy, 2),
      percent(row.manifestAccuracy, 2),
      `${row.answered}/${row.requests}`,
      String(row.degraded),
    ]),
  )
}

const WINDOW_LABELS: Readonly<Record<string, string>> = {
  single: 'single teacher',
  'ensemble-all': 'ensemble (all members)',
  'early-exit': 'early exit',
}

/** Each mode at each window: requests/s, latency, and requests/s against the teacher's. */
function windowTable(report: BenchReport): string[] {
  const single = (window: number) =>
    report.byWindow.find((row) => row.mode === 'single' && row.window === window)
  return table(
    [
      'window',
      'mode',
      'requests/s',
      '× single teacher req/s',
      'plan predicts req/s',
      'measured / predicted req/s',
      'p50 ms',
      'plan predicts p50 ms',
      'p95 ms',
      'answered',
      'degraded',
    ],
    report.byWindow.map((row) => [
      String(row.window),
      WINDOW_LABELS[row.mode] ?? row.mode,
      row.requestsPerSecond.toFixed(1),
      times(ratio(row.requestsPerSecond, single(row.window)?.requestsPerSecond ?? null)),
      row.predicted ? row.predicted.requestsPerSecond.toFixed(1) : '—',
      times(ratio(row.requestsPerSecond, row.predicted?.requestsPerSecond ?? null)),
      ms(row.latency.p50Ms),
      row.predicted ? ms(row.predicted.latencyMs) : '—',
      ms(row.latency.p95Ms),
      `${row.answered}/${row.requests}`,
      String(row.degraded),
    ]),
  )
}

function earlyExitTable(report: BenchReport): string[] {
  const rows = report.scenarios.filter((row) => row.costReduction !== null)
  return table(
    [
      'scenario',
      'condition',
      'exits (mobile / edge / cloud)',
      'cost reduction vs cloud-only',
      'tensor bytes / request',
      'deadline exits',
    ],
    rows.map((row) => [
      scenarioName(row),
      CONDITION_LABELS[row.condition],
      row.exitCounts?.join(' / ') ?? '—',
      percent(row.costReduction === null ? null : 100 * row.costReduction),
      whole(row.payloadBytesPerRequest),
      row.deadlineExits === null ? '—' : String(row.deadlineExits),
    ]),
  )
}

function failureTable(report: BenchReport): string[] {
  const rows = report.scenarios.filter((row) => row.failure !== null)
  return table(
    [
      'scenario',
      'condition',
      'devices',
      'after request',
      'answered',
      'degraded',
      'lost',
      'p50 ms',
      'p95 ms',
    ],
    rows.map((row) => [
      scenarioName(row),
      CONDITION_LABELS[row.condition],
      `${row.failure?.closed.length ?? 0} (${row.failure?.closed.join(', ')})`,
      String(row.failure?.afterRequests ?? '—'),
      `${row.answered}/${row.requests}`,
      String(row.degraded),
      String(row.lost),
      ms(row.latency.p50Ms),
      ms(row.latency.p95Ms),
    ]),
  )
}

function floorsSection(report: BenchReport): string[] {
  const { floors } = report
  return [
    ...table(
      ['floor (same run, same pages)', 'p50 ms', 'p95 ms', 'p50 ms while stragglers slowed'],
      [
        [
          'raw RTCDataChannel round trip, dashboard ↔ device',
          ms(floors.rawPing.p50Ms),
          ms(floors.rawPing.p95Ms),
          '—',
        ],
        ['Cohort mesh echo, same pair', ms(floors.meshPing.p50Ms), ms(floors.meshPing.p95Ms), '—'],
        ...Object.entries(floors.models).map(([id, timing]) => [
          `raw \`session.run\` of \`${id}\``,
          ms(timing.p50Ms),
          ms(timing.p95Ms),
          ms(floors.modelsWhileSlowed[id]?.p50Ms ?? null),
        ]),
      ],
    ),
    '',
    'Floors of a request, from the medians above:',
    '',
    `- single teacher: teacher run + raw round trip = **${ms(floors.singleMs)} ms**`,
    `- ensemble: slowest planned student + raw round trip + combiner = **${ms(floors.ensembleMs)} ms**`,
    `- early exit: segment 1 on the requester = **${ms(floors.earlyExitMs)} ms**`,
    `- cloud-only: every segment + raw round trip = **${ms(floors.cloudOnlyMs)} ms**`,
  ]
}

function microSection(report: BenchReport): string[] {
  const lines: string[] = []
  const { mesh, runtime, planner, failures } = report.micro
  for (const failure of failures) lines.push(`**Failed** — ${failure}`, '')
  if (mesh) {
    lines.push(
      `### Mesh vs raw data channel (two device pages, ${mesh.rounds} alternating rounds)`,
      '',
      ...table(
        [
          'path',
          'ping p50 ms',
          'ping p95 ms',
          `goodput MB/s (median of ${mesh.rounds} × ${mesh.bulkMiB} MiB)`,
        ],
        [
          [
            'raw RTCDataChannel',
            ms(mesh.ping.raw.p50Ms),
            ms(mesh.ping.raw.p95Ms),
            ms(median(mesh.goodputMBps.raw)),
          ],
          [
            'Cohort mesh (tensor path)',
            ms(mesh.ping.mesh.p50Ms),
            ms(mesh.ping.mesh.p95Ms),
            ms(median(mesh.goodputMBps.mesh)),
          ],
        ],
      ),
      '',
      `Mesh / raw goodput: **${times(mesh.goodputMBps.ratio)}**.`,
      ...(mesh.droppedRounds.length > 0
        ? [
            '',
            `${mesh.droppedRounds.length} of ${mesh.rounds} mesh rounds lost their link mid-transfer and are not in the medians: on two loaded cores the loopback SCTP association stalled for seconds (the sender's bufferedAmount frozen), longer than the 2 s failure detector (${mesh.droppedRounds.map((d) => `round ${d.round}: ${d.error}`).join('; ')}).`,
          ]
        : []),
      '',
    )
  }
  for (const result of runtime) {
    lines.push(
      `### Runtime: worker round trip vs raw \`session.run\` (threads: ${result.threads}, ${result.executionProvider}, cross-origin isolated: ${result.crossOriginIsolated})`,
      '',
      ...table(
        [
          'model',
          'raw p50 ms',
          'raw p95 ms',
          'round trip p50 ms',
          'round trip p95 ms',
          'round trip / raw',
        ],
        result.models.map((m) => [
          `\`${m.modelId}\``,
          ms(m.rawMs),
          ms(m.rawP95Ms),
          ms(m.roundTripMs),
          ms(m.roundTripP95Ms),
          times(ratio(m.roundTripMs, m.rawMs)),
        ]),
      ),
      '',
      `A killed worker: the next reference pass was done ${whole(result.recoveryMs)} ms later.`,
      '',
    )
  }
  const engines = report.micro.engines ?? []
  if (engines.length > 0) {
    lines.push(
      '### Node devices: onnxruntime-node vs onnxruntime-web WASM (raw runs in one Node process, 1 thread each)',
      '',
      ...table(
        [
          'model',
          'batch',
          'native p50 ms',
          'native p95 ms',
          'WASM p50 ms',
          'WASM p95 ms',
          'WASM / native',
        ],
        engines.map((e) => [
          `\`${e.modelId}\``,
          whole(e.batch),
          ms(e.native.p50Ms),
          ms(e.native.p95Ms),
          ms(e.wasm.p50Ms),
          ms(e.wasm.p95Ms),
          times(ratio(e.wasm.p50Ms, e.native.p50Ms)),
        ]),
      ),
      '',
      'A Node device measures both on the teacher when it starts and runs every model on the faster.',
      '',
    )
  }
  if (planner.length > 0) {
    lines.push(
      '### Planner (synthetic rooms, in Node)',
      '',
      ...table(
        ['devices', 'p50 ms', 'p95 ms', 'K chosen', 'predicted latency ms'],
        planner.map((p) => [
          whole(p.devices),
          ms(p.p50Ms),
          ms(p.p95Ms),
          p.k === null ? '—' : String(p.k),
          ms(p.predictedLatencyMs),
        ]),
      ),
      '',
    )
  }
  return lines
}

/** The figures a reader looks for first, in sentences, from the rows of the run. */
export function headlines(report: BenchReport): string[] {
  const find = (mode: Mode, condition: Condition) =>
    report.scenarios.find((row) => row.mode === mode && row.condition === condition)
  const lines: string[] = []
  for (const [condition, what] of [
    ['failure', 'Devices closed mid-run'],
    ['frozen', 'Devices frozen mid-run (noticed by missed heartbeats)'],
  ] as const) {
    const failed = report.scenarios.filter((row) => row.condition === condition)
    if (failed.length === 0) continue
    lines.push(
      `${what}: ${failed
        .map(
          (row) =>
            `${MODE_LABELS[row.mode]} lost ${row.lost}/${row.requests} (degraded ${row.degraded})`,
        )
        .join('; ')}.`,
    )
  }
  const slowed = report.scenarios.filter((row) => row.condition === 'slowed')
  if (slowed.length > 0) {
    lines.push(
      `Stragglers slowed ${report.config.slowdown}×, p50 without → with: ${slowed
        .map((row) => {
          const before = find(row.mode, 'normal')?.latency.p50Ms ?? null
          return `${MODE_LABELS[row.mode]} ${ms(before)} → ${ms(row.latency.p50Ms)} ms (${times(ratio(row.latency.p50Ms, before))})`
        })
        .join('; ')}.`,
    )
  }
  const single = find('single', 'normal')
  const others = report.scenarios.filter(
    (row) => row.condition === 'normal' && row.mode !== 'single',
  )
  if (single && others.length > 0) {
    lines.push(
      `Without failures, p50 against the single teacher's ${ms(single.latency.p50Ms)} ms: ${others
        .map(
          (row) =>
            `${MODE_LABELS[row.mode]} ${times(ratio(row.latency.p50Ms, single.latency.p50Ms))}`,
        )
        .join(', ')}; accuracy ${[single, ...others]
        .map((row) => `${MODE_LABELS[row.mode]} ${percent(row.accuracy, 2)}`)
        .join(', ')}.`,
    )
  }
  const byP50 = [...report.byK].sort((a, b) => a.latency.p50Ms - b.latency.p50Ms)
  const fastest = byP50[0]
  if (fastest) {
    const resilient = byP50.find((row) => row.resilienceMet)
    const measured = report.byK.map((row) => `K = ${row.k} ${ms(row.latency.p50Ms)} ms`)
    lines.push(
      `Ensemble with K pinned, p50: ${measured.join(', ')}; the planner chose K = ${report.room.k}; ` +
        `the fastest measured was K = ${fastest.k}` +
        (resilient ? `, and of the Ks meeting the resilience target, K = ${resilient.k}.` : '.'),
    )
  }
  return lines
}

/** How much longer the dashboard's own models ran while others were slowed. */
export function slowingCost(report: BenchReport): number | null {
  const { models, modelsWhileSlowed } = report.floors
  let before = 0
  let during = 0
  for (const [id, timing] of Object.entries(models)) {
    const slowed = modelsWhileSlowed[id]
    if (!slowed) continue
    before += timing.p50Ms
    during += slowed.p50Ms
  }
  return ratio(during, before)
}

/** Names the uncommitted files the run was built with (other work in a shared checkout). */
function uncommittedNote(files: readonly string[]): string {
  if (files.length === 0) return ''
  return ` plus uncommitted changes to ${files.map((file) => `\`${file}\``).join(', ')}`
}

/** The report's Markdown; `charts` are linked in order. */
export function renderMarkdown(report: BenchReport, charts: readonly ChartLink[]): string {
  const { machine, config, room } = report
  const earlyExit = (condition: Condition) =>
    report.scenarios.find((row) => row.mode === 'early-exit' && row.condition === condition)
      ?.latency.p50Ms ?? null
  const localBefore = earlyExit('normal')
  const localDuring = earlyExit('slowed')
  const lines = [
    `# Cohort benchmark, ${report.date.slice(0, 10)}`,
    '',
    `One \`npm run bench\` on this machine: task \`${config.task}\`, ${config.devices} device pages + the dashboard, ` +
      `${config.samples} test samples per scenario, one request at a time (but in the window phase), deadline ${whole(config.deadlineMs)} ms. ` +
      `Commit \`${machine.commit.slice(0, 10)}\`${uncommittedNote(machine.uncommitted)}; ` +
      `the run took ${(report.durationS / 60).toFixed(1)} min. Everything measured is in the JSON next to this file.`,
    '',
    ...table(
      ['CPU', 'cores', 'memory', 'OS', 'Node', 'Chromium', 'load average at start'],
      [
        [
          machine.cpuModel,
          String(machine.cores),
          `${machine.memoryGb} GB`,
          machine.os,
          machine.node,
          machine.chromium,
          machine.loadAverage.toFixed(2),
        ],
      ],
    ),
    '',
    '## Headlines',
    '',
    ...headlines(report).map((line) => `- ${line}`),
    '',
    '## How devices were emulated',
    '',
    report.emulation,
    '',
    '## What this machine cannot show',
    '',
    `- **All ${config.devices + 1} pages share ${machine.cores} cores.** Devices that would compute in parallel in a classroom take turns here, ` +
      'so an ensemble cannot be faster than the single teacher by wall clock, and every extra member that computes slows the others. ' +
      'Compare ratios against the floors measured in the same run, not absolute milliseconds.',
    '- **No real network.** Every link is loopback ICE inside one machine (round trips well under a millisecond); ' +
      "Wi-Fi's latency, jitter, loss and bandwidth limits are absent, so bytes per request cost nothing here.",
    `- **Stragglers are emulated** in their runtime (${config.slowdown}× on one member per group and tier): every run computes, then waits ${config.slowdown} − 1 times its compute time, so the straggler is really that much slower to answer, without taking the cores the others share. ` +
      "It is a slow CPU, not a slow radio or a thermally throttled phone. (DevTools CPU throttling, used before, does not reach a page's worker and so never slowed the models.) " +
      `While the stragglers were slowed, the dashboard's own raw \`session.run\` took ${times(slowingCost(report))} as long as before (sum of its models' p50s), ` +
      `and calibrated early exits, mostly answered on the dashboard alone, went from ${ms(localBefore)} to ${ms(localDuring)} ms p50.`,
    '- **Failures are emulated** two ways: a browser context closed (its data channels close at once), and a page frozen in the debugger ' +
      '(its socket and channels stay open but it answers nothing, not even heartbeats, so the requester notices only by silence, 2 s). ' +
      'A radio that degrades slowly, dropping some packets first, is not shown.',
    `- **No GPU**: WASM execution only, ${config.threads} thread(s) per page.`,
    '',
    '## The room',
    '',
    `Plan v${room.planVersion}: K = ${room.k} student slices in groups of ${room.groups.map((g) => g.length).join(' + ')} devices; ` +
      `early-exit tiers ${room.tiers.map((t) => `${t.tier} ${t.members.length}`).join(', ')}. ` +
      `Calibrated exit thresholds ${report.thresholds.calibrated.map((t) => t.toFixed(3)).join(', ')}; ` +
      `40/30/30 thresholds (every tier works) ${report.thresholds.mixed.map((t) => t.toFixed(3)).join(', ')}.`,
    '',
    '## Floors',
    '',
    ...floorsSection(report),
    '',
    '## Scenarios',
    '',
    'Latency is of answered requests. "p50 / single teacher" compares with the single-device teacher under the same condition ' +
      '(for slowed rows, the teacher on a slowed device; for failure rows, the teacher whose device was closed). ' +
      'A lost request is one that ended in an error; a degraded answer is one given without every part (an imputed group, or an early exit because a tier was gone). ' +
      '"p50 / floor" divides by the floor measured before any straggler was slowed. Failure rows after the first, and every frozen row, run in a room whose closed or frozen devices were replaced by new ones.',
    '',
    ...scenarioTable(report),
    '',
    '### Ensemble by K',
    '',
    `The ensemble (all members, no failures) with each K pinned from the dashboard, at the end of the run in the same room (its closed devices replaced); the rows above use the planner's choice, K = ${room.k}. ` +
      'The planner keeps the Ks whose every group meets the resilience target (failure estimates from the evidence so far), then takes the fastest by its prediction; ' +
      'the measured p50 shows whether the prediction ranked them right on this machine.',
    '',
    ...byKTable(report),
    '',
    '### Requests in flight',
    '',
    'Every mode with a window of 1, 2, 4, 8 and 16 requests in flight from the dashboard (its Requester), right after the rows above, in the same room, no failures. ' +
      'Requests/s is answered requests over the wall time of the run; "× single teacher" divides by the single-device teacher at the same window. ' +
      "All pages share this machine's cores, so a window cannot add compute: what it removes is the idle time of one request waiting for the previous one's round trips. " +
      "\"Plan predicts\" is the plan's load model (planner's `load-model.ts`): with w in flight, min(w / its predicted unloaded latency, its capacity), where the capacity is what its busiest device computes per request (an ensemble group keeps up with its fastest member, an early-exit tier's best member takes the share of samples that reach it). " +
      "It counts only each device's measured compute and its links, as if every device had cores of its own; here all pages share 2 cores and every hop crosses browsers' main threads, so measured / predicted stays far below 1 (the per-request overhead the trace breaks down is [bench-truth]'s subject). " +
      "For early exit the unloaded latency is the plan's remote time only: segment 1 on the requester is left out, and the requester's own compute is a limit the plan does not state. The single teacher is not a plan, so it has no prediction.",
    '',
    ...windowTable(report),
    '',
    '### Early exit',
    '',
    ...earlyExitTable(report),
    '',
    '### Failures',
    '',
    ...failureTable(report),
    '',
    '## Micro-benchmarks',
    '',
    ...microSection(report),
    '## Charts',
    '',
    ...charts.flatMap((chart) => [
      `### ${chart.title}`,
      '',
      `![${chart.title}](${chart.file})`,
      '',
    ]),
  ]
  return `${lines.join('\n').trimEnd()}\n`
}
