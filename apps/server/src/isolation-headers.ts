/**
 * The full security header set (security-headers.ts) under its old name, which coordinator.ts
 * still imports for engine.io's polling responses; switch that import to `SECURITY_HEADERS` and
 * delete this file.
 */
export { SECURITY_HEADERS as isolationHeaders } from './security-headers.ts'
