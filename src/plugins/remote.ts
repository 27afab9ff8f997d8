// Helpers for plugins that depend on something remote (Store, introspection endpoint): a deadline
// on a promise, and the failure-mode decision logged the same way everywhere.
import type { LocalReply } from '../core/verdict.js'

export class DeadlineExceeded extends Error {
  readonly code = 'PORTICO_PLUGIN_DEADLINE'
}

/** Rejects with DeadlineExceeded after `ms` (the timer does not keep the process alive). */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  if (ms <= 0) return p
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new DeadlineExceeded(`${what}: no answer within ${ms}ms`)), ms)
    t.unref()
    p.then(
      (v) => {
        clearTimeout(t)
        resolve(v)
      },
      (err: unknown) => {
        clearTimeout(t)
        reject(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })
}

/** The reply of failure_mode: closed when an auth dependency is down. */
export const AUTH_UNAVAILABLE: LocalReply = Object.freeze({
  status: 503,
  error: 'auth_unavailable',
  message: 'authentication is temporarily unavailable',
  headers: Object.freeze({ 'retry-after': '1' }) as Record<string, string>,
})
