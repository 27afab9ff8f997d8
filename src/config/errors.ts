// Config errors as users see them: file, YAML path and line:column, one line each, so an editor
// or CI log can jump straight to the problem (architecture page, "Configuration").

export interface ConfigError {
  /** The file name as the caller gave it. */
  file: string
  /** YAML path like "routes[2].plugins[0].config.origins"; "" for the document root. */
  path: string
  /** 1-based; 0 when unknown. */
  line: number
  /** 1-based; 0 when unknown. */
  column: number
  /** What is wrong, for a human. Never contains a secret value. */
  message: string
  /** How to fix it, e.g. `did you mean "timeouts"?`. */
  hint?: string
}

/** Orders by position so the output reads top to bottom through the file; ties stay deterministic. */
export function compareErrors(a: ConfigError, b: ConfigError): number {
  return a.line - b.line || a.column - b.column || cmp(a.path, b.path) || cmp(a.message, b.message)
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** One line per error: `file:line:col  path: message (hint)`, sorted by line then column. */
export function formatErrors(errors: ConfigError[]): string {
  return [...errors]
    .sort(compareErrors)
    .map((e) => {
      const where = `${e.file}:${e.line}:${e.column}`
      const what = e.path === '' ? e.message : `${e.path}: ${e.message}`
      return e.hint === undefined ? `${where}  ${what}` : `${where}  ${what} (${e.hint})`
    })
    .join('\n')
}

/** Levenshtein distance with an early exit: callers only care whether it is small. */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    let rowMin = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost)
      cur.push(v)
      if (v < rowMin) rowMin = v
    }
    if (rowMin > max) return max + 1
    prev = cur
  }
  return prev[b.length]!
}

/**
 * The closest candidate within edit distance 2 (case-insensitive), or one that the word is a
 * prefix of (or that is a prefix of the word); undefined when nothing is close.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase()
  let best: string | undefined
  let bestScore = Infinity
  for (const c of candidates) {
    const lc = c.toLowerCase()
    let score = distance(w, lc, 2)
    // A prefix match ("time" → "timeouts") is useful even when the edit distance is large; rank it
    // just behind a two-edit match.
    if (score > 2 && w.length >= 2 && (lc.startsWith(w) || w.startsWith(lc))) score = 2.5
    if (score < bestScore || (score === bestScore && best !== undefined && c < best)) {
      best = c
      bestScore = score
    }
  }
  return bestScore <= 2.5 ? best : undefined
}

/** `did you mean "x"?`, or the list of valid choices when none is close. */
export function suggest(word: string, candidates: readonly string[], noun = 'allowed'): string | undefined {
  const near = closest(word, candidates)
  if (near !== undefined) return `did you mean "${near}"?`
  if (candidates.length === 0) return undefined
  return `${noun}: ${[...candidates].sort().join(', ')}`
}
