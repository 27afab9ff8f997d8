// A small SVG line chart: one series, its latest value in words for screen readers.
const W = 300
const H = 60

export function Chart({ label, values, max, format, tone }: { label: string; values: number[]; max?: number; format: (v: number) => string; tone?: 'bad' }) {
  const top = max ?? Math.max(1, ...values)
  const n = Math.max(values.length - 1, 1)
  const points = values.map((v, i) => `${((i / n) * W).toFixed(1)},${(H - (Math.min(v, top) / top) * (H - 4) - 2).toFixed(1)}`).join(' ')
  const latest = values.length === 0 ? 0 : values[values.length - 1]!
  return (
    <figure class="chart">
      <figcaption>
        {label}: <strong data-testid={`latest-${label}`}>{format(latest)}</strong> <span class="muted">(max {format(top)})</span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${label}, latest ${format(latest)}`}>
        <line x1="0" y1={H - 1} x2={W} y2={H - 1} class="axis" />
        {values.length > 1 && <polyline points={points} class={tone === 'bad' ? 'line bad' : 'line'} fill="none" />}
      </svg>
    </figure>
  )
}

export interface Line {
  name: string
  values: number[]
}

const TONES = ['s0', 's1', 's2', 's3', 's4']

/** A line's points, split where a value is not a number (no sample: a gap, not a drop to 0). */
function segments(values: number[], top: number): string[] {
  const n = Math.max(values.length - 1, 1)
  const out: string[] = []
  let cur: string[] = []
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) {
      if (cur.length > 1) out.push(cur.join(' '))
      cur = []
      return
    }
    cur.push(`${((i / n) * W).toFixed(1)},${(H - (Math.min(v, top) / top) * (H - 4) - 2).toFixed(1)}`)
  })
  if (cur.length > 1) out.push(cur.join(' '))
  return out
}

/**
 * Several series on one SVG chart, with a legend naming each and its latest value (the legend and
 * the accessible label say in words what the lines show). A value that is NaN (nothing measured in
 * that interval) leaves a gap.
 */
export function MultiChart({ label, lines, format, testid }: { label: string; lines: Line[]; format: (v: number) => string; testid: string }) {
  const all = lines.flatMap((l) => l.values.filter(Number.isFinite))
  const highest = all.length === 0 ? 0 : Math.max(...all)
  const top = highest > 0 ? highest : 1
  const latest = (l: Line) => {
    for (let i = l.values.length - 1; i >= 0; i--) if (Number.isFinite(l.values[i]!)) return format(l.values[i]!)
    return '–'
  }
  const words = lines.map((l) => `${l.name} ${latest(l)}`).join(', ')
  return (
    <figure class="chart" data-testid={testid} data-series={lines.map((l) => l.name).join(' ')}>
      <figcaption>
        {label} {highest > 0 && <span class="muted">(max {format(highest)})</span>}
        <ul class="legend">
          {lines.map((l, i) => (
            <li key={l.name} data-series={l.name}>
              <span class={`swatch ${TONES[i % TONES.length]!}`} aria-hidden="true" /> {l.name} <strong data-testid={`latest-${l.name}`}>{latest(l)}</strong>
            </li>
          ))}
        </ul>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${label}: ${words}`}>
        <line x1="0" y1={H - 1} x2={W} y2={H - 1} class="axis" />
        {lines.map((l, i) => segments(l.values, top).map((pts, j) => <polyline key={`${l.name}-${j}`} points={pts} class={`line ${TONES[i % TONES.length]!}`} fill="none" />))}
      </svg>
    </figure>
  )
}
