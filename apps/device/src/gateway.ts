import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Answer, InferOptions, Requester } from '@cohort/cohort'
import { CohortError, type ErrorCode, type Manifest, toCohortError } from '@cohort/protocol'
import { z } from 'zod'
import { decodeImage, imageToInput } from './image-input.ts'

/**
 * The HTTP gateway: `POST /infer` sends one request to the room through the process's Requester
 * and answers JSON. The body is either JSON (`{"pixels": [...], "mode": "ensemble"}`) or an
 * image (`Content-Type: image/png` or `image/jpeg`, options in the query string). Every bad
 * request gets a 4xx with a typed error; nothing a client sends can end the process.
 */

/** The largest body read (a phone photo fits; the image is scaled down to the task's input). */
export const MAX_BODY_BYTES = 8 * 2 ** 20
/** Requests the gateway keeps in flight at once; past this it answers 503 at once. */
export const MAX_IN_FLIGHT = 64
const MAX_DEADLINE_MS = 60_000

const ModeSchema = z.enum(['single', 'ensemble', 'early-exit'])
const OptionsSchema = z.strictObject({
  mode: ModeSchema.optional(),
  deadlineMs: z.coerce.number().int().min(1).max(MAX_DEADLINE_MS).optional(),
  redundancy: z.enum(['all', 'hedged']).optional(),
})
const JsonBodySchema = OptionsSchema.extend({
  pixels: z.array(z.number().finite()),
})

/** HTTP status per error code: the client's fault is 4xx, the room's is 5xx. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  'bad-input': 400,
  'bad-message': 400,
  'payload-too-large': 413,
  'no-plan': 503,
  unavailable: 503,
  'not-connected': 503,
  'rate-limited': 503,
  timeout: 504,
}

class HttpError extends CohortError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
  ) {
    super(code, message)
  }
}

/** What the gateway answers for one request. */
export interface GatewayAnswer {
  readonly prediction: number
  readonly class: string
  /** Softmax of the answer's logits (null for single-model answers, which carry no logits). */
  readonly scores: readonly number[] | null
  readonly mode: Answer['mode']
  readonly degraded: boolean
  /** Devices whose work made the answer (early exit: "requester" when segment 1's exit did). */
  readonly answeredBy: readonly string[]
  readonly latencyMs: number
  readonly timings: Record<string, unknown>
}

/** Starts the gateway on `port` (0: a free one) of `host`. */
export async function startGateway(options: {
  readonly requester: Requester
  readonly manifest: Manifest
  readonly port: number
  readonly host: string
}): Promise<{ server: Server; url: string }> {
  const { requester, manifest } = options
  const inputSize = manifest.input.shape.slice(1).reduce<number>((a, d) => a * Number(d), 1)

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://gateway')
    if (url.pathname === '/healthz' && request.method === 'GET') {
      send(response, 200, { ok: true, task: manifest.task, inFlight: requester.inFlight })
      return
    }
    if (url.pathname !== '/infer') throw new HttpError(404, 'bad-message', 'POST /infer')
    if (request.method !== 'POST')
      throw new HttpError(405, 'bad-message', `/infer takes POST, not ${request.method}`)
    if (requester.inFlight >= MAX_IN_FLIGHT)
      throw new HttpError(503, 'rate-limited', `${MAX_IN_FLIGHT} requests are in flight already`)
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
    const body = await readBody(request)
    let input: Float32Array
    let asked: z.infer<typeof OptionsSchema>
    if (type === 'application/json') {
      const parsed = JsonBodySchema.safeParse(parseJson(body))
      if (!parsed.success) throw new HttpError(400, 'bad-input', z.prettifyError(parsed.error))
      const { pixels, ...rest } = parsed.data
      if (pixels.length !== inputSize) {
        throw new HttpError(
          400,
          'bad-input',
          `pixels must hold ${inputSize} values (${manifest.input.shape.slice(1).join('×')}), not ${pixels.length}`,
        )
      }
      input = Float32Array.from(pixels)
      asked = rest
    } else if (type === 'image/png' || type === 'image/jpeg') {
      const parsed = OptionsSchema.safeParse(Object.fromEntries(url.searchParams))
      if (!parsed.success) throw new HttpError(400, 'bad-input', z.prettifyError(parsed.error))
      input = imageToInput(decodeImage(body, type), manifest)
      asked = parsed.data
    } else {
      throw new HttpError(
        415,
        'bad-input',
        'send JSON (Content-Type: application/json) or an image (image/png, image/jpeg)',
      )
    }
    const inferOptions: InferOptions = {
      mode: asked.mode ?? 'ensemble',
      ...(asked.deadlineMs === undefined ? {} : { deadlineMs: asked.deadlineMs }),
      ...(asked.redundancy === undefined ? {} : { redundancy: asked.redundancy }),
    }
    // A client that hangs up cancels its request.
    const cancel = new AbortController()
    response.once('close', () => cancel.abort())
    const outcome = await requester.infer(input, { ...inferOptions, signal: cancel.signal })
    if (!outcome.ok) throw outcome.error
    send(response, 200, describe(outcome.value, manifest))
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const cohortError = toCohortError(error)
      const status = error instanceof HttpError ? error.status : (STATUS[cohortError.code] ?? 500)
      if (!response.headersSent) {
        send(response, status, { error: { code: cohortError.code, message: cohortError.message } })
      } else response.destroy()
    })
  })
  server.requestTimeout = MAX_DEADLINE_MS + 10_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  return {
    server,
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
  }
}

function describe(answer: Answer, manifest: Manifest): GatewayAnswer {
  const common = {
    prediction: answer.prediction,
    class: manifest.classes[answer.prediction] ?? String(answer.prediction),
    mode: answer.mode,
    latencyMs: answer.latencyMs,
  }
  switch (answer.mode) {
    case 'single':
      return {
        ...common,
        scores: null,
        degraded: false,
        answeredBy: [answer.deviceId],
        timings: { computeMs: answer.computeMs },
      }
    case 'ensemble':
      return {
        ...common,
        scores: softmax(answer.logits),
        degraded: answer.degraded,
        answeredBy: answer.winners.map((winner) => winner.deviceId),
        timings: {
          k: answer.k,
          winners: answer.winners,
          missingSlices: answer.missingSlices,
          planVersion: answer.planVersion,
        },
      }
    case 'early-exit':
      return {
        ...common,
        scores: softmax(answer.logits),
        degraded: answer.degraded,
        answeredBy: [answer.answeredBy ?? 'requester'],
        timings: {
          exitIndex: answer.exitIndex,
          confidence: answer.confidence,
          reason: answer.reason,
          segments: answer.segments,
          failovers: answer.failovers,
          bytes: answer.bytes,
          mobileMs: answer.mobileMs,
        },
      }
  }
}

function softmax(logits: Float32Array): number[] {
  const max = Math.max(...logits)
  const exps = Array.from(logits, (v) => Math.exp(v - max))
  const sum = exps.reduce((a, v) => a + v, 0)
  return exps.map((v) => v / sum)
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body))
  } catch (error) {
    throw new HttpError(400, 'bad-input', `the body is not JSON: ${(error as Error).message}`)
  }
}

/** The request's body, refused with 413 past MAX_BODY_BYTES (without reading the rest). */
function readBody(request: IncomingMessage): Promise<Uint8Array> {
  const declared = Number(request.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES) {
    return Promise.reject(
      new HttpError(413, 'payload-too-large', `bodies are at most ${MAX_BODY_BYTES} bytes`),
    )
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        // Read no more: the answer closes the connection (see send).
        request.pause()
        reject(
          new HttpError(413, 'payload-too-large', `bodies are at most ${MAX_BODY_BYTES} bytes`),
        )
      } else chunks.push(chunk)
    })
    request.once('end', () => resolve(new Uint8Array(Buffer.concat(chunks))))
    request.once('error', reject)
  })
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    // After an error the rest of a body may be unread: do not reuse the connection.
    ...(status >= 400 ? { connection: 'close' } : {}),
  })
  response.end(text)
}
