import { expose } from 'comlink'
import { LocalRuntime } from './local-runtime.ts'
import { serveRuntime } from './worker-protocol.ts'

// The Web Worker's entry: the in-thread runtime, exposed over comlink. RuntimeClient starts it.
expose(serveRuntime(new LocalRuntime()))
