/** Checked at join and carried in every frame; bump on any incompatible wire change. */
export const PROTOCOL_VERSION = 1
