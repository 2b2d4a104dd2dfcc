import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { type Endpoint, expose } from 'comlink'
import type { RuntimeApi } from '../api.ts'
import { LocalRuntime } from '../local-runtime.ts'
import type { WorkerHandle } from '../runtime-client.ts'
import { serveRuntime } from '../worker-protocol.ts'

/** A "worker" in this thread: a LocalRuntime served over a MessageChannel, as worker.ts serves it. */
export interface ChannelWorker extends WorkerHandle {
  readonly runtime: RuntimeApi
  /** Simulates an uncaught error in the worker (the Worker 'error' event). */
  fail(reason: string): void
  readonly terminated: boolean
  /** Call ids the client asked this worker to cancel, in order. */
  readonly cancels: readonly number[]
}

/** Starts channel workers and remembers them, so a test can close them all. */
export function channelWorkers(wrapRuntime: (runtime: RuntimeApi) => RuntimeApi = (r) => r) {
  const started: ChannelWorker[] = []
  const ports: MessagePort[] = []
  const factory = (): ChannelWorker => {
    const { port1, port2 } = new MessageChannel()
    ports.push(port1, port2)
    const runtime = wrapRuntime(new LocalRuntime())
    const served = serveRuntime(runtime)
    const cancels: number[] = []
    expose(
      {
        ...served,
        cancel: (callId: number) => {
          cancels.push(callId)
          return served.cancel(callId)
        },
      },
      port2 as unknown as Endpoint,
    )
    let crash: ((reason: string) => void) | null = null
    let terminated = false
    const worker: ChannelWorker = {
      endpoint: port1 as unknown as Endpoint,
      runtime,
      cancels,
      get terminated() {
        return terminated
      },
      // Like Worker.terminate(): the other side stops answering and no event says so.
      terminate() {
        terminated = true
        port2.close()
      },
      onCrash(listener) {
        crash = listener
      },
      fail(reason) {
        crash?.(reason)
      },
    }
    started.push(worker)
    return worker
  }
  return {
    factory,
    started,
    close() {
      for (const port of ports) port.close()
    },
  }
}
