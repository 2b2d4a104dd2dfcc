export type { BadFrameLimits } from './bad-frames.ts'
export type { ByteChannel } from './byte-channel.ts'
export { ECHO_METHOD } from './echo.ts'
export {
  LARGE_MESSAGE_BYTES,
  MAX_BYTES_PER_MS,
} from './link-estimate.ts'
export { type LinkState, Mesh, type MeshEvent, type MeshOptions, type PeerStatus } from './mesh.ts'
export { whenJoined, whenPlanned } from './mesh-waits.ts'
export type { WebRtcImplementation } from './peer-link.ts'
export {
  DEFAULT_HEARTBEAT,
  DEFAULT_RECEIVE_LIMITS,
  type HeartbeatOptions,
  type ReceiveLimits,
  type ReceiveStats,
  type SessionEndReason,
} from './peer-session.ts'
export type {
  HandlerReply,
  IncomingRequest,
  RequestOptions,
  RpcHandler,
  RpcReply,
} from './rpc.ts'
export {
  createRoom,
  type JoinOptions,
  type SignalingState,
  type Welcome,
} from './signaling-client.ts'
export { spacedTurns } from './spaced-turns.ts'
export type { AssemblerLimits } from './transfer.ts'
