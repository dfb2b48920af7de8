'use strict'
// The bench's chart: every measured ratio as a bar, each target as a line across its bar, as a plain SVG
// string (no browser, no dependency). bench/run.js writes it to bench/results/ratios.svg (and --chart=path).

const WIDTH = 940
const LABEL_W = 320
const BAR_X = LABEL_W + 10
const BAR_W = 380
const ROW_H = 22
const COLORS = { PASS: '#2e7d32', MISS: '#c62828', SKIPPED: '#9e9e9e', 'NOT MEASURED': '#9e9e9e', reported: '#5c7c8a' }
const FONT = 'font-family="system-ui, -apple-system, \'Segoe UI\', Helvetica, Arial, sans-serif"'

const escape = s => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const fixed = (n, d) => Number.isFinite(n) ? n.toFixed(d) : '-'

/** A niceish axis end: 1.5 at least, else the next quarter above the largest value. */
function axisEnd (values, floor) {
  const top = Math.max(floor, ...values.filter(Number.isFinite))
  return Math.ceil(top * 4 * 1.02) / 4
}

/**
 * One panel: a title, an axis with grid lines, one row per item.
 * items: { label, value, cpu?, bound?, outOfReach?, status, target?, comparison?, note? }; digits: decimals of the value shown.
 */
function panel (y, title, items, { end, step, digits, unit = '' }) {
  const out = []
  const x = v => BAR_X + Math.max(0, Math.min(1, v / end)) * BAR_W
  const top = y + 40
  const bottom = top + items.length * ROW_H
  out.push(`<text x="12" y="${y + 16}" font-size="14" font-weight="600">${escape(title)}</text>`)
  for (let v = 0; v <= end + 1e-9; v += step) {
    const gx = x(v).toFixed(1)
    out.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${bottom}" stroke="#e0e0e0"/>`)
    out.push(`<text x="${gx}" y="${top - 8}" font-size="10" fill="#757575" text-anchor="middle">${escape(fixed(v, step < 1 ? 2 : 0) + unit.trim())}</text>`)
  }
  items.forEach((item, i) => {
    const ry = top + i * ROW_H
    const cy = ry + ROW_H / 2
    out.push(`<text x="${LABEL_W}" y="${cy + 4}" font-size="12" text-anchor="end">${escape(item.label)}</text>`)
    const color = COLORS[item.status] ?? COLORS.reported
    if (Number.isFinite(item.value)) {
      const w = Math.max(1, x(item.value) - BAR_X)
      out.push(`<rect x="${BAR_X}" y="${ry + 4}" width="${w.toFixed(1)}" height="${ROW_H - 8}" fill="${color}" rx="2"/>`)
      if (item.value > end) out.push(`<text x="${BAR_X + BAR_W - 4}" y="${cy + 4}" font-size="10" fill="#fff" text-anchor="end">off scale ›</text>`)
    }
    if (Number.isFinite(item.cpu)) {
      // The same ratio by server CPU per request: a busy machine moves it far less than req/s.
      out.push(`<circle cx="${x(item.cpu).toFixed(1)}" cy="${cy}" r="4" fill="#ffffff" fill-opacity="0.6" stroke="#212121" stroke-width="1.5"/>`)
    }
    if (Number.isFinite(item.bound)) {
      // The bound: the same ratio with the plugin's route replaced by the least it can cost.
      const bx = x(item.bound).toFixed(1)
      out.push(`<line x1="${bx}" y1="${ry + 1}" x2="${bx}" y2="${ry + ROW_H - 1}" stroke="#1565c0" stroke-width="2" stroke-dasharray="3 2"/>`)
    }
    if (Number.isFinite(item.target)) {
      const tx = x(item.target).toFixed(1)
      out.push(`<line x1="${tx}" y1="${ry + 1}" x2="${tx}" y2="${ry + ROW_H - 1}" stroke="#212121" stroke-width="2"/>`)
    }
    const shown = Number.isFinite(item.value) ? fixed(item.value, digits) + unit : ''
    const target = Number.isInteger(item.target) ? String(item.target) : fixed(item.target, digits)
    const reach = item.outOfReach === true ? ', out of reach' : ''
    const verdict = item.target === undefined ? (item.note ?? '') : `${item.comparison} ${target}${unit}  ${item.status}${reach}`
    out.push(`<text x="${BAR_X + BAR_W + 10}" y="${cy + 4}" font-size="12"><tspan font-weight="600">${escape(shown)}</tspan>` +
      `<tspan fill="${item.target === undefined ? '#616161' : color}" dx="${shown === '' ? 0 : 8}">${escape(verdict)}</tspan></text>`)
  })
  return { svg: out.join('\n'), height: bottom - y + 14 }
}

/**
 * The whole chart. subtitle: a line or an array of lines. ratios: target rows on a ratio axis (higher is better); limits: target rows in their own
 * unit (lower is better, e.g. heap MB); reported: ratios measured without a target.
 */
function renderChart ({ title, subtitle, ratios, limits = [], reported = [] }) {
  const parts = []
  const lines = [].concat(subtitle)
  let y = 36 + lines.length * 15
  const ratioEnd = axisEnd([...ratios, ...reported].flatMap(r => [r.value, r.cpu, r.bound]).concat(ratios.map(r => r.target)), 1.5)
  if (ratios.length > 0) {
    const p = panel(y, 'Targets: ratios side by side in one run (higher is better; | target, ○ by server CPU, ┆ bound)', ratios, { end: ratioEnd, step: 0.25, digits: 2 })
    parts.push(p.svg)
    y += p.height
  }
  for (const limit of limits) {
    const end = Math.ceil(Math.max(limit.target * 1.5, Number.isFinite(limit.value) ? limit.value * 1.1 : 0) / 20) * 20
    const p = panel(y, limit.panel, [limit], { end, step: 20, digits: 1, unit: limit.unit })
    parts.push(p.svg)
    y += p.height
  }
  if (reported.length > 0) {
    const p = panel(y, 'Reported, no target (asymmetric algorithms; in-process floor)', reported, { end: ratioEnd, step: 0.25, digits: 2 })
    parts.push(p.svg)
    y += p.height
  }
  const height = y + 10
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} fill="#212121">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="12" y="22" font-size="16" font-weight="700">${escape(title)}</text>
${lines.map((line, i) => `<text x="12" y="${42 + i * 15}" font-size="11" fill="#616161">${escape(line)}</text>`).join('\n')}
${parts.join('\n')}
</svg>
`
}

/** The bench's chart from bench/run.js's targets and reported ratios (as its JSON holds them) and the run's facts. */
function benchChart (targets, reported, meta) {
  const pct = v => Number.isFinite(v) ? `${Math.round(v * 100)}%` : '-'
  const short = t => t.name.replace(' (in-process)', ' (in-proc)').replace(' subjects in turn', ' subjects')
  return renderChart({
    title: `fastify-authx bench: ${meta.mode} run, ${meta.date.slice(0, 10)}`,
    subtitle: [
      `${meta.cpu}, ${meta.cores} cores; Node ${meta.node}. Ratios of req/s (HTTP) or ops/s (in-process) of routes or calls measured side by side.`,
      `Other processes used ${pct(meta.others)} of a core during the HTTP rounds, up to ${pct(meta.othersInProcess)} during the in-process parts. Source: bench/run.js (npm run bench).`
    ],
    ratios: targets.filter(t => t.unit === 'ratio').map(t => ({ label: short(t), value: t.value, cpu: t.cpu, bound: t.bound, outOfReach: t.outOfReach, status: t.status, target: t.target, comparison: '≥', note: t.reason })),
    limits: targets.filter(t => t.unit === 'MB').map(t => ({ panel: 'Target: heap for 1,000,000 revoked jtis in the MemoryStore (lower is better)', label: 'heap, MB', value: t.value, status: t.status, target: t.target, comparison: '<', unit: ' MB' })),
    reported: reported.map(r => ({ label: short(r), value: r.value, cpu: r.cpu, status: 'reported' }))
  })
}

module.exports = { renderChart, benchChart }
