import { z } from 'zod'

// zod compiles object validators with `new Function` when it may. Pages run under a
// Content-Security-Policy without 'unsafe-eval', where that probe is refused and reported as a
// violation on every page load; validating without generated code is fast enough for our sizes.
z.config({ jitless: true })
