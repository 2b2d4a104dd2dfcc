/**
 * What a heap grew by between two V8 heap snapshots (`.heapsnapshot`, from Node or Chromium): the
 * change in live bytes per kind of object, and the kinds that grew most. Counts are compared per
 * kind, not object by object, because embedder nodes (Node's natives, Blink's DOM) get new ids in
 * every snapshot; the snapshots are taken after a full collection, so what they hold is live.
 *
 * `node --import tsx bench/soak/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot>`
 */
import { readFileSync } from 'node:fs'

/** Where a node's bytes go: compiled code is bounded by the program, objects are not. */
export type HeapCategory = 'compiled code' | 'JS objects' | 'strings' | 'DOM and native' | 'other'

export interface HeapKind {
  /** `type:name` of the snapshot's nodes, e.g. `object:Socket`, `code:(code deopt data)`. */
  readonly kind: string
  readonly category: HeapCategory
  readonly count: number
  readonly bytes: number
}

export interface HeapDiff {
  readonly beforeBytes: number
  readonly afterBytes: number
  /** Change of live bytes per category (after − before). */
  readonly byCategory: Readonly<Record<HeapCategory, number>>
  /** The kinds whose bytes changed most, largest growth first. */
  readonly grew: readonly HeapKind[]
}

interface Snapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: readonly string[]
      readonly node_types: readonly [readonly string[], ...unknown[]]
    }
  }
  readonly nodes: readonly number[]
  readonly strings: readonly string[]
}

const CATEGORIES: readonly HeapCategory[] = [
  'compiled code',
  'JS objects',
  'strings',
  'DOM and native',
  'other',
]

function categoryOf(type: string): HeapCategory {
  switch (type) {
    case 'code':
      // Bytecode, machine code, feedback vectors, deopt data, source positions: the JIT's.
      return 'compiled code'
    case 'object':
    case 'closure':
    case 'array':
    case 'regexp':
    case 'number':
    case 'bigint':
    case 'symbol':
    case 'object shape':
      return 'JS objects'
    case 'string':
    case 'concatenated string':
    case 'sliced string':
      return 'strings'
    case 'native':
      return 'DOM and native'
    default:
      return 'other'
  }
}

/** Live bytes and counts per kind in one snapshot. */
export function heapKinds(path: string): Map<string, HeapKind> {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as Snapshot
  const fields = parsed.snapshot.meta.node_fields
  const types = parsed.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const kinds = new Map<string, HeapKind>()
  for (let i = 0; i < parsed.nodes.length; i += width) {
    const type = types[parsed.nodes[i + typeAt] ?? 0] ?? 'unknown'
    // Names of strings are their contents: one kind per type, not per text.
    const name =
      categoryOf(type) === 'strings'
        ? ''
        : String(parsed.strings[parsed.nodes[i + nameAt] ?? 0] ?? '').slice(0, 80)
    const kind = `${type}:${name}`
    const known = kinds.get(kind)
    const bytes = parsed.nodes[i + sizeAt] ?? 0
    kinds.set(kind, {
      kind,
      category: categoryOf(type),
      count: (known?.count ?? 0) + 1,
      bytes: (known?.bytes ?? 0) + bytes,
    })
  }
  return kinds
}

/** What grew between `before` and `after` (paths of heap snapshots). */
export function diffHeapSnapshots(before: string, after: string, top = 15): HeapDiff {
  const a = heapKinds(before)
  const b = heapKinds(after)
  const byCategory = Object.fromEntries(CATEGORIES.map((category) => [category, 0])) as Record<
    HeapCategory,
    number
  >
  const changes: HeapKind[] = []
  for (const kind of new Set([...a.keys(), ...b.keys()])) {
    const was = a.get(kind)
    const is = b.get(kind)
    const category = (is ?? was)?.category ?? 'other'
    const change = {
      kind,
      category,
      count: (is?.count ?? 0) - (was?.count ?? 0),
      bytes: (is?.bytes ?? 0) - (was?.bytes ?? 0),
    }
    byCategory[category] += change.bytes
    if (change.bytes !== 0) changes.push(change)
  }
  const total = (kinds: Map<string, HeapKind>) =>
    [...kinds.values()].reduce((sum, kind) => sum + kind.bytes, 0)
  return {
    beforeBytes: total(a),
    afterBytes: total(b),
    byCategory,
    grew: changes.sort((x, y) => y.bytes - x.bytes).slice(0, top),
  }
}

/** A diff as Markdown: the change per category, then the kinds that grew most. */
export function heapDiffMarkdown(diff: HeapDiff): string {
  const kib = (bytes: number) => (bytes / 1024).toFixed(1)
  return [
    `Live bytes: ${kib(diff.beforeBytes)} KiB → ${kib(diff.afterBytes)} KiB.`,
    '',
    '| category | change KiB |',
    '| --- | ---: |',
    ...CATEGORIES.map((category) => `| ${category} | ${kib(diff.byCategory[category])} |`),
    '',
    '| kind that grew most | count | KiB |',
    '| --- | ---: | ---: |',
    ...diff.grew.map(
      (kind) => `| \`${kind.kind.replaceAll('|', '\\|')}\` | ${kind.count} | ${kib(kind.bytes)} |`,
    ),
  ].join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [before, after] = process.argv.slice(2)
  if (!before || !after) {
    console.error('usage: heap-diff.ts <before.heapsnapshot> <after.heapsnapshot>')
    process.exit(2)
  }
  console.log(heapDiffMarkdown(diffHeapSnapshots(before, after, 30)))
}
