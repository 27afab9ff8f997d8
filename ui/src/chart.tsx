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
