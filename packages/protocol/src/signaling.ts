import { z } from 'zod'
import { ErrorCodeSchema } from './errors.ts'
import {
  DeviceIdSchema,
  HostKeySchema,
  RequestIdSchema,
  ResumeTokenSchema,
  RoomCodeSchema,
} from './ids.ts'
import {
  DeviceOutcomeSchema,
  DeviceProfileSchema,
  EnsembleKSchema,
  ModelIdSchema,
  PlanSchema,
  TaskSchema,
} from './plan.ts'
import { RateLimitOptionsSchema } from './token-bucket.ts'

/**
 * Signaling: the only traffic that goes through the coordinator. Both directions use one
 * socket.io event, `message`, carrying a union tagged by `type`. A client message that expects a
 * reply passes a socket.io acknowledgement; the reply is a ServerReply.
 */

/** The HTTP header in which a host shows its room's key to `/healthz`: `<ROOMCODE>:<hostKey>`. */
export const HOST_KEY_HEADER = 'x-cohort-host-key'

/** The socket.io event name used in both directions. */
export const SIGNALING_EVENT = 'message'

/** Most models a device may list in a `loaded` message. */
export const MAX_LOADED_REPORTED = 64

/** Largest SDP or ICE candidate accepted for relay. */
export const MAX_SDP_LENGTH = 16_384

/** What a member of a room does: a device serves models, a host watches and sends requests. */
export const RoleSchema = z.enum(['device', 'host', 'requester'])
/**
 * A member's role: a device serves (and is planned), the host steers its room and sends work, a
 * requester only sends work (an app through the SDK, a second dashboard). Both requesting roles
 * link to the devices they ask.
 */
export type Role = z.infer<typeof RoleSchema>

/** Link ids tell one WebRTC connection attempt from an older one between the same two devices. */
export const LinkIdSchema = z.string().regex(/^[0-9A-Za-z_-]{4,32}$/)

const IceCandidateSchema = z.object({
  candidate: z.string().max(2_048),
  sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
  sdpMid: z.string().max(64).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
})

/** WebRTC session descriptions and candidates, as simple-peer emits them. */
export const SignalDataSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('offer'), sdp: z.string().max(MAX_SDP_LENGTH) }),
  z.object({ type: z.literal('answer'), sdp: z.string().max(MAX_SDP_LENGTH) }),
  z.object({ type: z.literal('candidate'), candidate: IceCandidateSchema }),
])
/** WebRTC session descriptions and candidates. */
export type SignalData = z.infer<typeof SignalDataSchema>

/** Public facts about a room member. */
export const PeerInfoSchema = z.object({
  deviceId: DeviceIdSchema,
  role: RoleSchema,
  /** A friendly name the coordinator gives it ("Teal Otter"), unique in its room. */
  name: z.string().max(64),
  label: z.string().max(80),
  joinedAt: z.number(),
})
/** Public facts about a room member. */
export type PeerInfo = z.infer<typeof PeerInfoSchema>

/** ICE servers handed to devices (STUN/TURN), as RTCPeerConnection takes them. */
export const IceServerSchema = z.object({
  urls: z.union([z.string().max(512), z.array(z.string().max(512)).max(8)]),
  username: z.string().max(256).optional(),
  credential: z.string().max(256).optional(),
})
/** An ICE server. */
export type IceServer = z.infer<typeof IceServerSchema>

/** Everything a client may send to the coordinator. */
export const ClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('create-room'), protocolVersion: z.number().int() }),
  z.object({
    type: z.literal('join-room'),
    protocolVersion: z.number().int(),
    room: RoomCodeSchema,
    role: RoleSchema,
    label: z.string().max(80),
    resumeToken: ResumeTokenSchema.optional(),
    hostKey: HostKeySchema.optional(),
  }),
  z.object({
    type: z.literal('signal'),
    to: DeviceIdSchema,
    linkId: LinkIdSchema,
    data: SignalDataSchema,
  }),
  z.object({ type: z.literal('leave') }),
  /** Host only: the task the room serves (models, samples). */
  z.object({ type: z.literal('set-task'), task: TaskSchema }),
  /** Host only: the ensemble's K, pinned (say, to benchmark one K), or null for the planner's choice. */
  z.object({ type: z.literal('set-ensemble-k'), k: EnsembleKSchema.nullable() }),
  /** A device's measured capabilities; the planner replans with them. */
  z.object({ type: z.literal('profile'), profile: DeviceProfileSchema }),
  /**
   * A device's loaded models, whenever they change: the planner prefers plans that keep work on
   * devices that have its models loaded.
   */
  z.object({
    type: z.literal('loaded'),
    models: z.array(ModelIdSchema).max(MAX_LOADED_REPORTED),
  }),
  /** A requester's failure evidence: requests sent to devices and how many got no answer. */
  z.object({ type: z.literal('report'), outcomes: z.array(DeviceOutcomeSchema).max(256) }),
  /**
   * Host only: disconnect a device (fault injection, or an unwanted guest). Its resume token is
   * revoked, so it cannot come back as itself; `ban` also refuses its address for the room's life.
   */
  z.object({
    type: z.literal('remove-device'),
    deviceId: DeviceIdSchema,
    ban: z.boolean().optional(),
  }),
  /** Host only: a locked room takes no new members (members coming back still may). */
  z.object({ type: z.literal('lock-room'), locked: z.boolean() }),
  /** Host only: every member is sent away and the room's code, host key and tokens stop working. */
  z.object({ type: z.literal('end-room') }),
])
/** Everything a client may send to the coordinator. */
export type ClientMessage = z.infer<typeof ClientMessageSchema>

/** The coordinator's acknowledgement of a client message. */
export const ServerReplySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('room-created'), room: RoomCodeSchema, hostKey: HostKeySchema }),
  z.object({
    type: z.literal('welcome'),
    protocolVersion: z.number().int(),
    room: RoomCodeSchema,
    deviceId: DeviceIdSchema,
    /** Its friendly name in the room (as the others see it in its PeerInfo). */
    name: z.string().max(64),
    resumeToken: ResumeTokenSchema,
    role: RoleSchema,
    resumed: z.boolean(),
    peers: z.array(PeerInfoSchema),
    iceServers: z.array(IceServerSchema),
    /** Whether the room takes new members. */
    locked: z.boolean(),
    /**
     * The messages this socket may send (a burst, then per second): the member paces itself by
     * it, so a burst of signals (a device linking to a whole tier) waits instead of being dropped.
     */
    budget: RateLimitOptionsSchema.optional(),
  }),
  z.object({ type: z.literal('ok') }),
  z.object({
    type: z.literal('error'),
    code: ErrorCodeSchema,
    message: z.string(),
    requestId: RequestIdSchema.optional(),
  }),
])
/** The coordinator's acknowledgement of a client message. */
export type ServerReply = z.infer<typeof ServerReplySchema>

/** What the coordinator pushes to members of a room. */
export const ServerPushSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('peer-joined'), peer: PeerInfoSchema }),
  z.object({
    type: z.literal('peer-left'),
    deviceId: DeviceIdSchema,
    reason: z.enum(['left', 'disconnected', 'replaced', 'removed']),
  }),
  z.object({
    type: z.literal('signal'),
    from: DeviceIdSchema,
    linkId: LinkIdSchema,
    data: SignalDataSchema,
  }),
  z.object({ type: z.literal('error'), code: ErrorCodeSchema, message: z.string() }),
  /** The room's current plan, after every replan and to every newcomer. */
  z.object({ type: z.literal('plan'), plan: PlanSchema }),
  /** The host locked or unlocked the room. */
  z.object({ type: z.literal('room-locked'), locked: z.boolean() }),
  /** The host ended the room: every member is disconnected after this. */
  z.object({ type: z.literal('room-ended') }),
])
/** What the coordinator pushes to members of a room. */
export type ServerPush = z.infer<typeof ServerPushSchema>

/** socket.io's typed event map, client to server. */
export interface ClientToServerEvents {
  message: (message: unknown, ack?: (reply: ServerReply) => void) => void
}

/** socket.io's typed event map, server to client. */
export interface ServerToClientEvents {
  message: (push: ServerPush) => void
}
