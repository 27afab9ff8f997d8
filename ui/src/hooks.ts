import { useEffect, useRef, useState } from 'preact/hooks'

/** Calls `load` now and every `ms` while mounted; the last answer and error are kept. */
export function usePoll<T>(load: () => Promise<T>, ms: number, deps: unknown[] = []): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [tick, setTick] = useState(0)
  const loadRef = useRef(load)
  loadRef.current = load
  useEffect(() => {
    let live = true
    let timer: ReturnType<typeof setTimeout> | undefined
    const run = () => {
      loadRef.current().then(
        (d) => {
          if (!live) return
          setData(d)
          setError(null)
        },
        (e: unknown) => live && setError(e instanceof Error ? e.message : String(e)),
      ).finally(() => {
        if (live && ms > 0) timer = setTimeout(run, ms)
      })
    }
    run()
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [ms, tick, ...deps])
  return { data, error, reload: () => setTick((t) => t + 1) }
}

/** The hash route: "#/routes/users" → ["routes", "users"]. */
export function useHashRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s))
  const [parts, setParts] = useState(read)
  useEffect(() => {
    const on = () => setParts(read())
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return parts
}

export const href = (...parts: string[]): string => `#/${parts.map(encodeURIComponent).join('/')}`
