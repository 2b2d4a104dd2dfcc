import type { RpcHandler } from './rpc.ts'

/**
 * The method every member serves: it answers with exactly the tensors it received, a probe of
 * the whole data path (its round trip, its bandwidth, and that no byte was touched).
 */
export const ECHO_METHOD = 'echo'

/** Answers with the request's own frames. */
export const echoHandler: RpcHandler = async (request) => ({ frames: request.frames })
