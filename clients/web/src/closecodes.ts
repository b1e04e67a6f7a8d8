/**
 * Close codes after which reconnecting cannot help (schema/CLOSE_CODES.md,
 * column "reconnect: no"; a test keeps this list equal to schema/close_codes.py).
 */
export const NO_RECONNECT: ReadonlySet<number> = new Set([
  1000, 1002, 1009, 4000, 4001, 4002, 4004, 4005, 4006, 4401, 4403, 4413, 4431,
])

/** The user must sign in again. */
export const AUTH_CLOSES: ReadonlySet<number> = new Set([4401, 4403])
