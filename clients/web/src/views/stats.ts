/**
 * Assessment (考核): per-unit statistics for a period (`GET /api/stats`),
 * as a table, and the same rows as a CSV file. The CSV route needs the
 * bearer token like every API route, so the link fetches it and hands the
 * browser the file (a token never goes into a URL).
 */

import type { App, View } from '../app'
import { ApiError, token } from '../api'
import { h } from '../dom'
import { type Key, onLangChange, t, tx } from '../i18n'
import { act } from './actions'
import { panel } from './panel'

const SEES_ALL = ['commander', 'chief_editor'] // rooms/assessment: everyone else sees their own unit

interface UnitStats {
  unit: string
  name: string
  tasks_received: number
  tasks_on_time: number
  on_time_rate: number | null
  ack_median_seconds: number | null
  topics_submitted: number
  topics_adopted: number
  drafts_published: number
  review_median_seconds: number | null
}

interface Stats {
  from: string
  to: string
  computed_at: number | null
  items: UnitStats[]
}

const COLUMNS: [keyof UnitStats, Key, (row: UnitStats) => string][] = [
  ['tasks_received', 'stats_tasks_received', (r) => String(r.tasks_received)],
  ['tasks_on_time', 'stats_tasks_on_time', (r) => String(r.tasks_on_time)],
  ['on_time_rate', 'stats_on_time_rate', (r) => (r.on_time_rate === null ? '—' : `${(r.on_time_rate * 100).toFixed(1)}%`)],
  ['ack_median_seconds', 'stats_ack_median', (r) => minutes(r.ack_median_seconds)],
  ['topics_submitted', 'stats_topics_submitted', (r) => String(r.topics_submitted)],
  ['topics_adopted', 'stats_topics_adopted', (r) => String(r.topics_adopted)],
  ['drafts_published', 'stats_drafts_published', (r) => String(r.drafts_published)],
  ['review_median_seconds', 'stats_review_median', (r) => minutes(r.review_median_seconds)],
]

function minutes(seconds: number | null): string {
  return seconds === null ? '—' : (seconds / 60).toFixed(1)
}

/** A calendar date in the city's time (UTC+8), `days` from today. */
function cityDate(days: number): string {
  return new Date(Date.now() + 8 * 3600_000 + days * 86400_000).toISOString().slice(0, 10)
}

export function statsView(app: App): View {
  const me = app.me!
  const all = me.roles.some((r) => SEES_ALL.includes(r))
  const from = h('input', { id: 'stats-from', type: 'date', required: true, value: cityDate(-29) })
  const to = h('input', { id: 'stats-to', type: 'date', required: true, value: cityDate(0) })
  const unit = h('select', { id: 'stats-unit', disabled: !all })
  if (all) unit.append(tx(h('option', { value: '' }), 'stats_all_units'))
  for (const u of app.units.values()) {
    if (all || u.code === me.unit) unit.append(h('option', { value: u.code }, app.unitName(u.code)))
  }
  const csv = tx(h('a', { href: '#', id: 'stats-csv', class: 'button-link' }), 'stats_csv')
  const form = h(
    'form',
    { class: 'inline stats-form' },
    h('div', { class: 'field' }, tx(h('label', { for: 'stats-from' }), 'stats_from'), from),
    h('div', { class: 'field' }, tx(h('label', { for: 'stats-to' }), 'stats_to'), to),
    h('div', { class: 'field' }, tx(h('label', { for: 'stats-unit' }), 'stats_unit'), unit),
    tx(h('button', { type: 'submit', class: 'primary' }), 'stats_show'),
    csv,
  )
  const results = panel('stats', 'stats_results')
  app.main.append(tx(h('h1', { class: 'page-title' }), 'stats_title'), h('section', { class: 'card' }, form), results.section)

  const query = (): string => {
    const q = new URLSearchParams({ from: from.value, to: to.value })
    if (unit.value) q.set('unit', unit.value)
    return q.toString()
  }
  const load = (): void =>
    void results.load<Stats>(`/api/stats?${query()}`, (value) => table(app, value))
  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    load()
  })
  csv.addEventListener('click', (ev) => {
    ev.preventDefault()
    void act(app, () => download(`/api/stats.csv?${query()}`, `tongpin-stats-${from.value}-${to.value}.csv`))
  })
  load()
  const stopLang = onLangChange(() => {
    for (const option of unit.options) if (option.value) option.textContent = app.unitName(option.value)
  })
  return () => {
    stopLang()
    results.destroy()
  }
}

function table(app: App, stats: Stats): HTMLElement | null {
  if (stats.items.length === 0) return null
  // Explicit roles: on a phone the table is laid out as cards, which must not drop its semantics.
  const head = h('tr', { role: 'row' }, tx(h('th', { scope: 'col', role: 'columnheader' }), 'stats_unit'))
  for (const [field, key] of COLUMNS) head.append(tx(h('th', { scope: 'col', role: 'columnheader', 'data-field': field }), key))
  const body = h('tbody', { role: 'rowgroup' })
  for (const row of stats.items) {
    const tr = h('tr', { role: 'row', 'data-unit': row.unit }, h('th', { scope: 'row', role: 'rowheader' }, app.units.has(row.unit) ? app.unitName(row.unit) : row.name))
    for (const [field, key, show] of COLUMNS) tr.append(h('td', { class: 'num', role: 'cell', 'data-field': field, 'data-label': t(key) }, show(row)))
    body.append(tr)
  }
  const caption = h('caption', {}, t('stats_caption', { from: stats.from, to: stats.to }))
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': t('stats_results') }, h('table', { class: 'data', role: 'table' }, caption, h('thead', { role: 'rowgroup' }, head), body))
}

/** Fetch a file with the bearer token and hand it to the browser as a download. */
async function download(path: string, name: string): Promise<void> {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token() ?? ''}` } })
  if (!response.ok) {
    const error = ((await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null)?.error
    throw new ApiError(response.status, error?.code ?? 'http_error', error?.message ?? response.statusText)
  }
  const url = URL.createObjectURL(await response.blob())
  const link = h('a', { href: url, download: name, hidden: true })
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
