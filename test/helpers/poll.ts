// Wait for state by polling with a deadline; never sleep a fixed time to "let things settle".
export async function pollUntil<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 5000, intervalMs = 20, what = 'condition', signal }: { timeoutMs?: number; intervalMs?: number; what?: string; signal?: AbortSignal } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let lastErr: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== null && v !== false) return v as NonNullable<T>
    } catch (err) {
      lastErr = err
    }
    // The caller gave up (another failure won a race with this wait): stop polling.
    if (signal?.aborted === true) throw new Error(`stopped waiting for ${what}`)
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`)
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}
