// Session ticket keys, the same in every worker and on every instance given the same seed:
// derived (HKDF-SHA256) from the seed and the number of the current rotation period, so no
// process has to hand keys to another and a restarted worker comes back with the same key.
// Node holds one ticket key per context, so a ticket issued before a rotation is not accepted
// after it: that client does one full handshake and gets a new ticket.
import { hkdfSync, randomBytes } from 'node:crypto'

/** The environment variable the primary sets before forking, so its workers share a random seed. */
export const TICKET_SEED_ENV = 'PORTICO_TLS_TICKET_SEED'

/** 48 bytes (name, HMAC secret, AES key) for `period`. */
export function ticketKeys(seed: string, period: number): Buffer {
  return Buffer.from(hkdfSync('sha256', seed, 'portico-tls-session-tickets', `period:${period}`, 48))
}

/** The seed: the configured one, else the primary's (inherited through the environment), else a fresh one. */
export function ticketSeed(configured: string | undefined): string {
  if (configured !== undefined) return configured
  const inherited = process.env[TICKET_SEED_ENV]
  if (inherited !== undefined && inherited.length >= 32) return inherited
  const fresh = randomBytes(32).toString('hex')
  process.env[TICKET_SEED_ENV] = fresh
  return fresh
}

/** Calls `apply(keys)` now and at every period boundary (UTC multiples of periodMs). Returns stop(). */
export function rotateTicketKeys(seed: string, periodMs: number, apply: (keys: Buffer) => void): () => void {
  let timer: NodeJS.Timeout | undefined
  const tick = (): void => {
    const now = Date.now()
    const period = Math.floor(now / periodMs)
    apply(ticketKeys(seed, period))
    timer = setTimeout(tick, (period + 1) * periodMs - now + 5)
    timer.unref()
  }
  tick()
  return () => clearTimeout(timer)
}
