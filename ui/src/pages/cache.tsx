import { useEffect, useRef, useState } from 'preact/hooks'
import { call, explain } from '../api'

type By = 'key' | 'prefix' | 'all'
interface Purged {
  memory: number
  tier2: number
  workers: number
}

/** What DELETE /admin/cache is asked, in the words the confirmation shows. */
function describe(by: By, value: string): string {
  return by === 'all' ? 'every entry of every cache route' : by === 'key' ? `the entry ${value} (and its variants)` : `every entry whose key starts with ${value}`
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`

export function CachePurge({ canPurge }: { canPurge: boolean }) {
  const [by, setBy] = useState<By>('key')
  const [value, setValue] = useState('')
  // The request waiting for confirmation (what the form held when "Purge…" was pressed).
  const [pending, setPending] = useState<{ by: By; value: string } | null>(null)
  const [busy, setBusy] = useState(false)
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null)
  const confirmRef = useRef<HTMLButtonElement>(null)
  // The confirmation takes the focus, so a keyboard user lands on the question it asks.
  useEffect(() => {
    if (pending !== null) confirmRef.current?.focus()
  }, [pending])

  const ask = (e: Event) => {
    e.preventDefault()
    setResult(null)
    setPending({ by, value: by === 'all' ? '' : value.trim() })
  }
  const purge = async () => {
    if (pending === null) return
    setBusy(true)
    try {
      // The API takes exactly one of key and prefix; an empty prefix is everything.
      const q = pending.by === 'key' ? `key=${encodeURIComponent(pending.value)}` : `prefix=${encodeURIComponent(pending.value)}`
      const a = await call<{ purged: Purged }>(`/admin/cache?${q}`, { method: 'DELETE' })
      if (a.ok) {
        const p = a.body.purged
        setResult({ ok: true, text: `Purged ${p.memory} ${p.memory === 1 ? 'entry' : 'entries'} from memory on ${plural(p.workers, 'worker')}, ${p.tier2} from the second tier.` })
      } else setResult({ ok: false, text: explain(a) })
    } catch (err) {
      setResult({ ok: false, text: `The admin listener did not answer: ${(err as Error).message}` })
    } finally {
      setBusy(false)
      setPending(null)
    }
  }

  return (
    <>
      <h1>Cache purge</h1>
      <p class="muted">
        Removes entries of the cache plugin on every worker of this instance and from the second tier (<code>tier2: redis</code>), so the next request goes to the upstream. A key is{' '}
        <code>host/path?query</code> as the request had it (host in lower case, without the port), e.g. <code>api.example.com/products/42?lang=en</code>.
      </p>
      {!canPurge ? (
        <p class="panel warn">Purging the cache needs the admin role.</p>
      ) : (
        <form onSubmit={ask} class="stack" aria-describedby="purge-help">
          <fieldset class="format">
            <legend>Purge</legend>
            <label>
              <input type="radio" name="by" checked={by === 'key'} onChange={() => setBy('key')} /> one key
            </label>
            <label>
              <input type="radio" name="by" checked={by === 'prefix'} onChange={() => setBy('prefix')} /> keys starting with
            </label>
            <label>
              <input type="radio" name="by" checked={by === 'all'} onChange={() => setBy('all')} /> everything
            </label>
          </fieldset>
          {by !== 'all' && (
            <>
              <label for="purge-value">{by === 'key' ? 'Key' : 'Key prefix'}</label>
              <input id="purge-value" required maxLength={2048} spellcheck={false} autocomplete="off" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
            </>
          )}
          <p id="purge-help" class="muted">
            You are asked to confirm before anything is removed.
          </p>
          <button type="submit" class="danger" disabled={pending !== null || busy}>
            Purge…
          </button>
        </form>
      )}
      {canPurge && pending !== null && (
        <div role="alertdialog" aria-labelledby="purge-q" class="panel warn confirm" data-testid="purge-confirm" onKeyDown={(e) => e.key === 'Escape' && !busy && setPending(null)}>
          <p id="purge-q">Purge {describe(pending.by, pending.value)}? The next requests for them go to the upstream.</p>
          <div class="actions">
            <button type="button" class="danger solid" ref={confirmRef} disabled={busy} onClick={() => void purge()}>
              Confirm purge
            </button>
            <button type="button" disabled={busy} onClick={() => setPending(null)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {result !== null && (
        <p role={result.ok ? 'status' : 'alert'} class={`panel ${result.ok ? 'good' : 'bad'}`} data-testid="purge-result">
          {result.text}
        </p>
      )}
    </>
  )
}
