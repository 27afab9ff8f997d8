// Durations and sizes as users write them ("250ms", "2s", "5m", "10mb") or as plain integers
// (milliseconds / bytes). Parsed once at compile time; the hot path only sees numbers.

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/
const SIZE_RE = /^(\d+(?:\.\d+)?)(b|kb|mb|gb)$/i

export const DURATION_PATTERN = '^\\d+(\\.\\d+)?(ms|s|m|h)$'
export const SIZE_PATTERN = '^\\d+(\\.\\d+)?([bB]|[kK][bB]|[mM][bB]|[gG][bB])$'

const DURATION_FACTOR: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const SIZE_FACTOR: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }

/** Milliseconds from "250ms" | "2s" | "5m" | "1h" | integer ms. Throws on anything else. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return value
  const m = DURATION_RE.exec(value.trim())
  if (m === null) throw new TypeError(`invalid duration "${value}" (use e.g. 250ms, 2s, 5m, 1h)`)
  return Math.round(Number(m[1]) * DURATION_FACTOR[m[2]!]!)
}

/** Bytes from "512b" | "64kb" | "10mb" | "1gb" (binary multiples) | integer bytes. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') return value
  const m = SIZE_RE.exec(value.trim())
  if (m === null) throw new TypeError(`invalid size "${value}" (use e.g. 64kb, 10mb)`)
  return Math.floor(Number(m[1]) * SIZE_FACTOR[m[2]!.toLowerCase()]!)
}
