import { ErrorCodeSchema, toCohortError } from '@cohort/protocol'
import { describe, expect, test } from 'vitest'
import { RUNTIME_ERROR_CODES, RuntimeError } from './runtime-error.ts'

describe('RuntimeError on the wire', () => {
  test.each(RUNTIME_ERROR_CODES)('%s is a wire code, kept when a device answers a peer', (code) => {
    expect(ErrorCodeSchema.safeParse(code).success).toBe(true)
    const sent = toCohortError(new RuntimeError(code, 'what went wrong'), 'handler-failed')
    expect(sent.toData()).toEqual({ code, message: 'what went wrong' })
  })
})
