import { existsSync, type Stats } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join } from 'node:path'
import { assertNever } from '@cohort/protocol'
import sirv from 'sirv'
import { byteRange } from './byte-range.ts'

/** Vite's content-hashed output: a changed file gets a new name, so it can be cached forever. */
const IMMUTABLE = 'public, max-age=31536000, immutable'

/** Everything else (index.html, manifests, models) is revalidated; models are hash-checked anyway. */
const REVALIDATE = 'no-cache'

/** Types the browser is strict about: `instantiateStreaming` needs application/wasm. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
}

/** A plain Node request handler. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void

/** Paths the single-page app routes itself: the landing page, a room, a room's dashboard. */
export function isAppRoute(pathname: string): boolean {
  return (
    pathname === '/' ||
    pathname === '/host' ||
    /^\/(?:r|host)\/[0-9A-Za-z_-]{1,64}\/?$/.test(pathname)
  )
}

/** The pathname of a request, '' when the URL cannot be parsed. */
export function pathnameOf(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname
  } catch {
    return ''
  }
}

/**
 * Serves the built web app from `dir`: app routes get index.html, files get their own type and
 * caching, anything else is a 404 (never index.html, so a missing model is an error, not HTML).
 */
export function createStaticFiles(dir: string, log: (line: string) => void): RequestHandler {
  const index = join(dir, 'index.html')
  if (!existsSync(index)) {
    log(`no built web app in ${dir} yet: run \`npm run build\` (npm start does it for you)`)
  }
  const serve = fileServer(dir, log)

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      sendText(res, 405, 'Only GET and HEAD are served here.\n')
      return
    }
    const pathname = pathnameOf(req)
    const notFound = () => sendText(res, 404, `Not found: ${pathname}\n`)
    if (isHidden(pathname)) {
      notFound()
      return
    }
    if (isAppRoute(pathname)) {
      if (!existsSync(index)) {
        sendText(
          res,
          503,
          'The Cohort web app is not built yet: run `npm run build`, or `npm start`.\n',
        )
        return
      }
      req.url = '/index.html'
    }
    serve(req, res, pathname, notFound)
  }
}

/**
 * Serves a folder laid out like public/ (your own models: `models/<task>/…` and `data/…`) in
 * front of `next`: a model or data file found there wins; anything else goes on to `next`.
 */
export function createOwnModelFiles(
  dir: string,
  log: (line: string) => void,
  next: RequestHandler,
): RequestHandler {
  const serve = fileServer(dir, log)
  return (req, res) => {
    const pathname = pathnameOf(req)
    const ours =
      (req.method === 'GET' || req.method === 'HEAD') &&
      /^\/(?:models|data)\//.test(pathname) &&
      !isHidden(pathname)
    if (ours) serve(req, res, pathname, () => next(req, res))
    else next(req, res)
  }
}

/** Per-request lookup serves whatever exists, so hidden files are refused, judged on the path as sirv will decode it. */
const isHidden = (pathname: string) => pathname === '' || /\/\./.test(safeDecodeUri(pathname))

/** Serves the files of `dir` with their types and caching; `missing` answers what is not there. */
function fileServer(
  dir: string,
  log: (line: string) => void,
): (req: IncomingMessage, res: ServerResponse, pathname: string, missing: () => void) => void {
  const serve = sirv(dir, {
    // Look files up per request instead of listing them once: a rebuild (or new models) while
    // the server runs must not leave it serving stale sizes or missing files.
    dev: true,
    etag: true,
    // Exact paths only; app routes are mapped to index.html explicitly.
    extensions: [],
    setHeaders(res, pathname, stats) {
      // Called after the lookup, so the file's size is known: the only place to judge a Range.
      const satisfiable = fitRangeForSirv(res.req, stats)
      const type = CONTENT_TYPES[extname(pathname).toLowerCase()]
      if (type && satisfiable) res.setHeader('Content-Type', type)
      res.setHeader('Cache-Control', pathname.startsWith('/assets/') ? IMMUTABLE : REVALIDATE)
      res.setHeader('Accept-Ranges', 'bytes')
    },
  })
  return (req, res, pathname, missing) => {
    // sirv pipes a file stream without an error listener: a file deleted between its lookup and
    // its read (a rebuild) would otherwise crash the process.
    res.once('pipe', (source) => {
      source.once('error', (error: Error) => {
        log(`failed to read ${pathname}: ${error.message}`)
        res.destroy()
      })
    })
    serve(req, res, missing)
  }
}

/**
 * Judges the request's Range and rewrites it into the one form sirv reads correctly; false when
 * the answer is a 416. sirv's own parsing is naive: `bytes=5-2` made it open a read stream that
 * throws (the socket was destroyed, not answered), `bytes=-5` served the first bytes instead of
 * the last, `bytes=0-0` the whole file, `bytes=abc` and `bytes=-0` a 206 of everything.
 */
function fitRangeForSirv(req: IncomingMessage, stats: Stats): boolean {
  // §14.2: Range is defined for GET only; If-Range holds only for an unchanged strong validator,
  // and our ETags are weak, so only the exact Last-Modified date keeps a Range in force.
  const ifRange = req.headers['if-range']
  const applies =
    req.method === 'GET' && (ifRange === undefined || ifRange === stats.mtime.toUTCString())
  const range = applies ? byteRange(req.headers.range, stats.size) : ({ kind: 'whole' } as const)
  switch (range.kind) {
    case 'whole':
      delete req.headers.range
      return true
    case 'part':
      // sirv reads an end of 0 as "to the end", so `bytes=0-0` cannot be said to it; a whole
      // 200 answers any Range request correctly (§14.2), just with more bytes.
      if (range.end === 0) delete req.headers.range
      else req.headers.range = `bytes=${range.start}-${range.end}`
      return true
    case 'unsatisfiable':
      // A start at the size is what makes sirv answer 416 with `Content-Range: bytes */size`.
      req.headers.range = `bytes=${stats.size}-`
      return false
    default:
      return assertNever(range)
  }
}

/** A short plain-text response that no cache keeps. */
export function sendText(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status
  res.setHeader('Content-Type', 'text/plain; charset=utf-8')
  res.setHeader('Cache-Control', 'no-store')
  res.end(text)
}

function safeDecodeUri(path: string): string {
  try {
    return decodeURI(path)
  } catch {
    return path
  }
}
