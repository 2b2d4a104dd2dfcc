import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type ModelEntry, parseManifest } from '@cohort/protocol'
import { describe, expect, test } from 'vitest'
import { MemoryModelCache } from './model-cache.ts'
import { type ModelProgress, ModelStore, type ModelStoreEvent } from './model-store.ts'
import { sha256Digest } from './sha256.ts'

// The store against the shipped digits models, served by a fake fetch that streams in chunks
// and counts requests, with an in-memory cache standing in for the Cache API.

const PUBLIC = fileURLToPath(new URL('../../../public/', import.meta.url))
const BASE = 'http://cohort.test/'
const TASK = 'digits'

function serve(files: Map<string, Uint8Array>) {
  const requests: string[] = []
  const fetchFake: typeof fetch = (input) => {
    const url = String(input)
    requests.push(url)
    const body = files.get(url.slice(BASE.length))
    if (!body)
      return Promise.resolve(new Response('missing', { status: 404, statusText: 'Not Found' }))
    const third = Math.ceil(body.byteLength / 3)
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < body.byteLength; at += third)
          controller.enqueue(body.slice(at, at + third))
        controller.close()
      },
    })
    return Promise.resolve(new Response(stream))
  }
  return { fetch: fetchFake, requests }
}

function publicFiles(): Map<string, Uint8Array> {
  const manifestPath = `models/${TASK}/manifest.json`
  const files = new Map<string, Uint8Array>([
    [manifestPath, new Uint8Array(readFileSync(PUBLIC + manifestPath))],
  ])
  const manifest = parseManifest(JSON.parse(readFileSync(PUBLIC + manifestPath, 'utf8')))
  if (!manifest.ok) throw new Error(manifest.error)
  for (const m of manifest.value.models)
    files.set(m.file, new Uint8Array(readFileSync(PUBLIC + m.file)))
  return files
}

async function openStore(files: Map<string, Uint8Array>, cache = new MemoryModelCache()) {
  const server = serve(files)
  const events: ModelStoreEvent[] = []
  const store = await ModelStore.open({
    baseUrl: BASE,
    fetch: server.fetch,
    cache: { cache, mode: { kind: 'memory', reason: 'test' } },
    onEvent: (e) => events.push(e),
  })
  return { store, server, events, cache }
}

describe('ModelStore', () => {
  test('downloads with progress, verifies, and serves the next load from the cache without fetching', async () => {
    const files = publicFiles()
    const { store, server } = await openStore(files)
    const manifest = await store.fetchManifest(TASK)
    const teacher = manifest.models.find((m) => m.id === 'teacher') as ModelEntry
    const progress: ModelProgress[] = []
    const first = await store.load(teacher, { onProgress: (p) => progress.push(p) })
    expect(first.source).toBe('network')
    expect(first.bytes.byteLength).toBe(teacher.bytes)
    expect(await sha256Digest(new Uint8Array(first.bytes))).toBe(teacher.sha256)
    // 0, then one event per chunk, ending at the total; never decreasing.
    expect(progress[0]).toMatchObject({ bytesDone: 0, bytesTotal: teacher.bytes })
    expect(progress.at(-1)).toMatchObject({ bytesDone: teacher.bytes, bytesTotal: teacher.bytes })
    expect(progress.length).toBeGreaterThanOrEqual(4)
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]?.bytesDone).toBeGreaterThanOrEqual(progress[i - 1]?.bytesDone ?? 0)
    }
    const fetched = server.requests.length
    const second = await store.load(teacher)
    expect(second.source).toBe('cache')
    expect(server.requests.length).toBe(fetched)
    expect(new Uint8Array(second.bytes)).toEqual(new Uint8Array(first.bytes))
  })

  test('refuses a file whose bytes do not match the manifest hash, with a typed error, and caches nothing', async () => {
    const files = publicFiles()
    const { store, events, cache } = await openStore(files)
    const manifest = await store.fetchManifest(TASK)
    const teacher = manifest.models.find((m) => m.id === 'teacher') as ModelEntry
    const tampered = (files.get(teacher.file) as Uint8Array).slice()
    tampered[tampered.length - 10] = (tampered[tampered.length - 10] ?? 0) ^ 0xff
    files.set(teacher.file, tampered)
    await expect(store.load(teacher)).rejects.toMatchObject({
      name: 'RuntimeError',
      code: 'integrity',
    })
    expect(await cache.keys()).toEqual([])
    expect(events).toContainEqual(expect.objectContaining({ type: 'evicted' }))
    // Too long or too short is refused as well.
    files.set(teacher.file, new Uint8Array(teacher.bytes + 1))
    await expect(store.load(teacher)).rejects.toMatchObject({ code: 'integrity' })
    files.set(teacher.file, new Uint8Array(teacher.bytes - 1))
    await expect(store.load(teacher)).rejects.toMatchObject({ code: 'integrity' })
  })

  test('evicts a tampered cache entry and downloads a good copy again', async () => {
    const files = publicFiles()
    const { store, server, events, cache } = await openStore(files)
    const manifest = await store.fetchManifest(TASK)
    const student = manifest.models.find((m) => m.id === 'student-2-0') as ModelEntry
    await store.load(student)
    const [key] = await cache.keys()
    const bad = new Uint8Array(student.bytes)
    await cache.write(key as string, bad.buffer)
    const before = server.requests.length
    const again = await store.load(student)
    expect(again.source).toBe('network')
    expect(server.requests.length).toBe(before + 1)
    expect(events).toContainEqual(expect.objectContaining({ type: 'evicted', key }))
    expect(
      await sha256Digest(new Uint8Array((await cache.read(key as string)) as ArrayBuffer)),
    ).toBe(student.sha256)
  })

  test('retain evicts the models a plan no longer needs', async () => {
    const { store, cache } = await openStore(publicFiles())
    const manifest = await store.fetchManifest(TASK)
    const [a, b, c] = manifest.models as [ModelEntry, ModelEntry, ModelEntry]
    for (const m of [a, b, c]) await store.load(m)
    expect(await cache.keys()).toHaveLength(3)
    const evicted = await store.retain([b])
    expect(evicted).toHaveLength(2)
    expect(await store.has(b)).toBe(true)
    expect(await store.has(a)).toBe(false)
    expect(await store.has(c)).toBe(false)
  })

  test('a bad manifest, an unknown task and a failing server are typed errors', async () => {
    const files = publicFiles()
    files.set('models/broken/manifest.json', new TextEncoder().encode('{"schemaVersion": 1}'))
    files.set('models/notjson/manifest.json', new TextEncoder().encode('<html>'))
    const { store } = await openStore(files)
    await expect(store.fetchManifest('broken')).rejects.toMatchObject({ code: 'bad-manifest' })
    await expect(store.fetchManifest('notjson')).rejects.toMatchObject({ code: 'bad-manifest' })
    await expect(store.fetchManifest('missing')).rejects.toMatchObject({ code: 'download-failed' })
    await expect(store.fetchManifest('../etc')).rejects.toMatchObject({ code: 'bad-manifest' })
  })

  test('the JavaScript hash (for insecure contexts) equals WebCrypto', async () => {
    const bytes = publicFiles().get('models/digits/teacher.onnx') as Uint8Array
    expect(await sha256Digest(bytes, 'javascript')).toBe(await sha256Digest(bytes, 'webcrypto'))
  })
})
