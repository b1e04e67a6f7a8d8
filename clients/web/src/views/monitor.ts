/**
 * The opinion monitor (舆情监测): alerts with their lifecycle actions
 * (acknowledge, assign as a topic report or a dispatch task, resolve,
 * dismiss) for everyone who sees alerts; and, for the roles that manage the
 * monitor (hub/monitor_api.py: monitors, commanders, chief editors), the
 * sources with their health and the rules, which can be created, edited
 * and deleted (a rule's place keywords too). A refused field is said next to
 * the field. Alert events reload the alerts.
 */

import type { App, View } from '../app'
import { statusWord } from '../app'
import { itemsOf, post, request } from '../api'
import { append, fill, h, when } from '../dom'
import { type Key, lang, onLangChange, t, tx } from '../i18n'
import { act, type Choice, decisionForm } from './actions'
import { fieldErrors } from './fields'
import { list, panel } from './panel'

const MANAGE_ROLES = ['monitor', 'commander', 'chief_editor']
/** The lifecycle (docs/MONITOR.md): the actions each state allows. */
const NEXT: Record<string, string[]> = {
  new: ['acknowledge', 'dismiss'],
  acknowledged: ['assign', 'resolve', 'dismiss'],
  assigned: ['resolve', 'dismiss'],
}
const ACTION_KEYS: Record<string, Key> = {
  acknowledge: 'alert_acknowledge',
  assign: 'alert_assign',
  resolve: 'alert_resolve',
  dismiss: 'alert_dismiss',
}

interface Source {
  id: string
  url: string
  name: string
  interval: number
  timeout: number
  enabled: boolean
  health: 'pending' | 'ok' | 'failing'
  last_success_at: number | null
  last_error: string | null
  last_error_at?: number | null
  failures: number
  items_total?: number
}

interface Rule {
  id: string
  name: string
  any: string[]
  all: string[]
  none: string[]
  regions: Record<string, string>
  use_unit_names: boolean
  severity: 'low' | 'medium' | 'high'
  enabled: boolean
}

interface Alert {
  id: string
  title: string
  summary?: string
  url: string
  severity: string
  unit: string | null
  status: string
  matched: string[]
  topic?: string | null
  task?: string | null
  created_at: number
  history: { at: number; actor: string | null; action: string; reason: string }[]
}

export function monitorView(app: App): View {
  const me = app.me!
  const manages = me.roles.some((r) => MANAGE_ROLES.includes(r))
  const alerts = panel('monitor-alerts', 'alerts_title')
  const panels = [alerts]
  const cleanups: (() => void)[] = []
  app.main.append(tx(h('h1', { class: 'page-title' }), 'monitor_title'))
  const grid = h('div', { class: 'desk' }, alerts.section)
  app.main.append(grid)

  const filter = h('select', { id: 'alert-status' })
  filter.append(tx(h('option', { value: '' }), 'alert_all'))
  for (const s of ['new', 'acknowledged', 'assigned', 'resolved', 'dismissed']) filter.append(h('option', { value: s }, statusWord(s)))
  alerts.section.insertBefore(h('div', { class: 'field' }, tx(h('label', { for: 'alert-status' }), 'alert_filter'), filter), alerts.body)
  const loadAlerts = (): void =>
    void alerts.load<unknown>(`/api/alerts?limit=50${filter.value ? `&status=${filter.value}` : ''}`, (value) =>
      list(itemsOf<Alert>(value), (alert) => alertRow(app, alert, loadAlerts)),
    )
  filter.addEventListener('change', loadAlerts)
  cleanups.push(
    onLangChange(() => {
      for (const option of filter.options) if (option.value) option.textContent = statusWord(option.value)
    }),
  )
  loadAlerts()
  const stop = app.live.on('event', (e) => {
    if (e.event.startsWith('alert.')) loadAlerts()
  })
  const stopReload = app.live.on('reload', () => loadAlerts())

  if (manages) {
    const sources = panel('monitor-sources', 'sources_title')
    const rules = panel('monitor-rules', 'rules_title')
    panels.push(sources, rules)
    grid.append(sources.section, rules.section)
    const sourceEditor = sourceForm(app, () => loadSources())
    sources.section.insertBefore(sourceEditor.element, sources.body)
    const loadSources = (): void =>
      void sources.load<unknown>('/api/monitor/sources?limit=200', (value) =>
        list(itemsOf<Source>(value), (s) => sourceRow(app, s, sourceEditor.edit, loadSources)),
      )
    const editor = ruleForm(app, () => loadRules())
    rules.section.insertBefore(editor.element, rules.body)
    const loadRules = (): void =>
      void rules.load<unknown>('/api/monitor/rules?limit=200', (value) =>
        list(itemsOf<Rule>(value), (r) => ruleRow(app, r, editor.edit, loadRules)),
      )
    loadSources()
    loadRules()
    cleanups.push(editor.destroy, sourceEditor.destroy)
  }
  return () => {
    for (const fn of cleanups) fn()
    stop()
    stopReload()
    for (const p of panels) p.destroy()
  }
}

function alertRow(app: App, alert: Alert, reload: () => void): HTMLElement {
  const row = h(
    'article',
    { class: `alert sev-${alert.severity}`, 'data-alert': alert.id, 'data-status': alert.status, 'aria-label': alert.title },
    h(
      'p',
      { class: 'row' },
      alert.url ? h('a', { href: alert.url, rel: 'noopener noreferrer', target: '_blank', class: 'title' }, alert.title) : h('span', { class: 'title' }, alert.title),
    ),
    h(
      'p',
      { class: 'row' },
      h('span', { class: `sev sev-${alert.severity}` }, t(`severity_${alert.severity}` as Key)),
      alert.unit ? app.unitBadge(alert.unit) : '',
      h('span', { class: `status s-${alert.status}` }, statusWord(alert.status)),
      h('span', { class: 'muted' }, when(alert.created_at, lang())),
    ),
  )
  if (alert.matched.length > 0) row.append(h('p', { class: 'muted' }, t('alert_matched', { words: alert.matched.join('、') })))
  if (alert.topic) row.append(h('p', { class: 'muted' }, t('alert_topic', { id: alert.topic })))
  if (alert.task) row.append(h('p', { class: 'muted' }, t('alert_task', { id: alert.task })))
  const base = `/api/alerts/${encodeURIComponent(alert.id)}`
  const id = `alert-${alert.id}`
  const actions = NEXT[alert.status] ?? []
  if (actions.length > 0) {
    const as = h('select', { id: `${id}-as` })
    as.append(tx(h('option', { value: 'topic' }), 'alert_as_topic'), tx(h('option', { value: 'task' }), 'alert_as_task'))
    const choices: Choice[] = actions.map((action) => ({
      action,
      key: ACTION_KEYS[action],
      needsReason: false,
      primary: action === 'acknowledge' || action === 'assign',
      run: (reason: string) => post(`${base}/${action}`, action === 'assign' ? { create: as.value, ...(reason ? { reason } : {}) } : reason ? { reason } : {}),
    }))
    const extra = actions.includes('assign') ? [h('div', { class: 'field' }, tx(h('label', { for: as.id }), 'alert_assign_as'), as)] : []
    row.append(decisionForm(app, id, choices, reload, ...extra))
  }
  const history = list(alert.history, (step) =>
    h(
      'div',
      { class: 'row step', 'data-action': step.action },
      h('span', {}, `${step.actor ?? t('actor_system')}: ${step.action}`),
      step.reason ? h('span', { class: 'reason' }, step.reason) : '',
      h('span', { class: 'muted' }, when(step.at, lang())),
    ),
  )
  if (history !== null) row.append(h('details', { class: 'history' }, tx(h('summary', {}), 'topic_history'), history))
  return row
}

/** A delete button that asks once more in place (no modal dialog): "delete X?" confirm / cancel. */
function deleteButton(app: App, label: string, run: () => Promise<unknown>, done: () => void): HTMLElement {
  const box = h('span', { class: 'inline confirm-delete' })
  const start = tx(h('button', { type: 'button', class: 'danger' }), 'delete')
  start.setAttribute('aria-label', t('delete_label', { name: label }))
  const ask = h('span', { class: 'muted', role: 'alert' })
  const yes = tx(h('button', { type: 'button', class: 'danger' }), 'delete_confirm')
  const no = tx(h('button', { type: 'button' }), 'cancel')
  const asking = (on: boolean): void => {
    start.hidden = on
    for (const el of [ask, yes, no]) el.hidden = !on
    ask.textContent = on ? t('delete_ask', { name: label }) : ''
  }
  start.addEventListener('click', () => {
    asking(true)
    yes.focus()
  })
  no.addEventListener('click', () => {
    asking(false)
    start.focus()
  })
  yes.addEventListener('click', async () => {
    yes.disabled = true
    const ok = await act(app, run)
    yes.disabled = false
    if (ok) {
      app.notes.show({ kind: 'saved', title: t('deleted', { name: label }) })
      done()
    } else asking(false)
  })
  append(box, start, ask, yes, no)
  asking(false)
  return box
}

function sourceRow(app: App, source: Source, edit: (source: Source) => void, reload: () => void): HTMLElement {
  const error = source.last_error
    ? h('p', { class: 'error', 'data-field': 'last_error' }, t('source_last_error', { error: source.last_error, time: when(source.last_error_at ?? null, lang()) }))
    : ''
  const editButton = tx(h('button', { type: 'button' }), 'edit')
  editButton.setAttribute('aria-label', t('source_edit_label', { name: source.name }))
  editButton.addEventListener('click', () => edit(source))
  const remove = deleteButton(app, source.name, () => request('DELETE', `/api/monitor/sources/${encodeURIComponent(source.id)}`), reload)
  return h(
    'div',
    { class: 'source', 'data-source': source.id, 'data-health': source.health },
    h(
      'p',
      { class: 'row' },
      h('span', { class: 'title' }, source.name),
      h('span', { class: `health-${source.health}` }, t(`health_${source.health}` as Key)),
      source.enabled ? '' : tx(h('span', { class: 'muted' }), 'source_disabled'),
    ),
    h('p', { class: 'muted url' }, source.url),
    h('p', { class: 'muted' }, t('source_timing', { interval: source.interval, timeout: source.timeout })),
    h(
      'p',
      { class: 'muted', 'data-field': 'last_success' },
      source.last_success_at ? t('source_last_success', { time: when(source.last_success_at, lang()) }) : t('source_never'),
      source.failures > 0 ? ` · ${t('source_failures', { n: source.failures })}` : '',
    ),
    error,
    h('div', { class: 'actions' }, editButton, remove),
  )
}

function ruleRow(app: App, rule: Rule, edit: (rule: Rule) => void, reload: () => void): HTMLElement {
  const words = (key: Key, items: string[]): string => (items.length ? `${t(key)}：${items.join('、')}` : '')
  const button = tx(h('button', { type: 'button' }), 'rule_edit')
  button.setAttribute('aria-label', t('rule_edit_label', { name: rule.name }))
  button.addEventListener('click', () => edit(rule))
  const remove = deleteButton(app, rule.name, () => request('DELETE', `/api/monitor/rules/${encodeURIComponent(rule.id)}`), reload)
  const places = Object.entries(rule.regions ?? {})
  return h(
    'div',
    { class: 'rule', 'data-rule': rule.id },
    h(
      'p',
      { class: 'row' },
      h('span', { class: 'title' }, rule.name),
      h('span', { class: `sev sev-${rule.severity}` }, t(`severity_${rule.severity}` as Key)),
      rule.enabled ? '' : tx(h('span', { class: 'muted' }), 'rule_disabled'),
    ),
    h('p', { class: 'muted' }, [words('rule_any', rule.any), words('rule_all', rule.all), words('rule_none', rule.none)].filter(Boolean).join(' · ')),
    places.length > 0
      ? h('p', { class: 'muted', 'data-field': 'regions' }, t('rule_regions_shown', { places: places.map(([place, unit]) => `${place} → ${app.unitName(unit)}`).join('、') }))
      : '',
    h('div', { class: 'actions' }, button, remove),
  )
}

/** Keywords typed as a list: separated by commas (either width), 、 or spaces. */
function keywords(value: string): string[] {
  return value
    .split(/[,，、\s]+/)
    .map((w) => w.trim())
    .filter(Boolean)
}

/** A create/edit form in a disclosure: the heading and buttons follow whether a thing is being edited. */
function editorShell(
  id: string,
  keys: { create: Key; editing: Key; submit: Key; save: Key },
  ...controls: Node[]
): { details: HTMLDetailsElement; form: HTMLFormElement; cancel: HTMLButtonElement; paint(name: string | null): void } {
  const heading = h('h3', { id: `${id}-heading` })
  const submit = h('button', { type: 'submit', class: 'primary' })
  const cancel = tx(h('button', { type: 'button', hidden: true, 'data-action': 'cancel' }), 'rule_cancel')
  const form = h('form', { class: 'stack', 'aria-labelledby': `${id}-heading`, novalidate: true }, heading, ...controls, h('div', { class: 'actions' }, submit, cancel))
  const details = h('details', { class: `${id}` }, tx(h('summary', {}), keys.create), form)
  return {
    details,
    form,
    cancel,
    paint(name: string | null): void {
      fill(heading, name !== null ? t(keys.editing, { name }) : t(keys.create))
      fill(submit, t(name !== null ? keys.save : keys.submit))
      cancel.hidden = name === null
    },
  }
}

function sourceForm(app: App, saved: () => void): { element: HTMLElement; edit(source: Source): void; destroy(): void } {
  let editing: Source | null = null
  const url = h('input', { id: 'source-url', type: 'url', required: true, maxlength: 2000, autocomplete: 'off', inputmode: 'url' })
  const name = h('input', { id: 'source-name', maxlength: 200, autocomplete: 'off' })
  const interval = h('input', { id: 'source-interval', type: 'number', min: 1, max: 86400, step: 1, inputmode: 'numeric' })
  const timeout = h('input', { id: 'source-timeout', type: 'number', min: 0.5, max: 60, step: 0.5, inputmode: 'decimal' })
  const enabled = h('input', { id: 'source-enabled', type: 'checkbox', checked: true })
  const shell = editorShell(
    'source-editor',
    { create: 'source_new', editing: 'source_editing', submit: 'source_create', save: 'rule_save' },
    tx(h('label', { for: url.id }), 'source_url'),
    url,
    tx(h('label', { for: name.id }), 'source_name'),
    name,
    tx(h('label', { for: interval.id }), 'source_interval'),
    interval,
    tx(h('label', { for: timeout.id }), 'source_timeout'),
    timeout,
    h('label', { for: enabled.id }, enabled, ' ', tx(h('span', {}), 'rule_enabled')),
  )
  const errors = fieldErrors('source-form', { url, name, interval, timeout, enabled })
  shell.form.append(errors.summary)
  const paint = (): void => shell.paint(editing?.name ?? null)
  const reset = (): void => {
    editing = null
    shell.form.reset()
    errors.clear()
    paint()
  }
  shell.cancel.addEventListener('click', reset)
  shell.form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const body: Record<string, unknown> = { url: url.value.trim(), enabled: enabled.checked }
    if (name.value.trim() || editing) body.name = name.value.trim()
    if (interval.value !== '') body.interval = Number(interval.value)
    if (timeout.value !== '') body.timeout = Number(timeout.value)
    const path = editing ? `/api/monitor/sources/${encodeURIComponent(editing.id)}` : '/api/monitor/sources'
    errors.clear()
    try {
      const answer = await request<Source>(editing ? 'PATCH' : 'POST', path, body)
      app.notes.show({ kind: 'saved', title: t('source_saved', { name: answer?.name ?? String(body.name ?? body.url) }) })
      reset()
      saved()
    } catch (err) {
      errors.show(err)
    }
  })
  paint()
  const stopLang = onLangChange(paint)
  return {
    element: shell.details,
    destroy: stopLang,
    edit(source: Source): void {
      editing = source
      errors.clear()
      url.value = source.url
      name.value = source.name
      interval.value = String(source.interval)
      timeout.value = String(source.timeout)
      enabled.checked = source.enabled
      shell.details.open = true
      paint()
      url.focus()
    },
  }
}

/** The place keywords of a rule: rows of (place keyword, unit), added and removed. */
function regionsEditor(app: App): { element: HTMLFieldSetElement; value(): Record<string, string>; set(regions: Record<string, string>): void } {
  const rows = h('div', { class: 'regions' })
  const add = tx(h('button', { type: 'button', 'data-action': 'add-region' }), 'rule_region_add')
  const element = h('fieldset', { class: 'units regions-editor', id: 'rule-regions' }, tx(h('legend', {}), 'rule_regions'), rows, add)
  let next = 0
  const row = (place = '', unit = ''): void => {
    const n = next++
    const placeInput = h('input', { id: `region-place-${n}`, maxlength: 40, autocomplete: 'off', value: place, 'data-region': 'place' })
    const unitSelect = h('select', { id: `region-unit-${n}`, 'data-region': 'unit' })
    for (const u of [...app.units.values()].sort((a, b) => a.code.localeCompare(b.code))) {
      unitSelect.append(h('option', { value: u.code, selected: u.code === unit }, app.unitName(u.code)))
    }
    const remove = tx(h('button', { type: 'button' }), 'rule_region_remove')
    const line = h(
      'div',
      { class: 'field region' },
      tx(h('label', { for: placeInput.id }), 'rule_region_place'),
      placeInput,
      tx(h('label', { for: unitSelect.id }), 'rule_region_unit'),
      unitSelect,
      remove,
    )
    const paintRemove = (): void => remove.setAttribute('aria-label', t('rule_region_remove_label', { place: placeInput.value || '—' }))
    placeInput.addEventListener('input', paintRemove)
    paintRemove()
    remove.addEventListener('click', () => {
      line.remove()
      add.focus()
    })
    rows.append(line)
  }
  add.addEventListener('click', () => {
    row()
    rows.querySelector<HTMLInputElement>('.region:last-child input')?.focus()
  })
  return {
    element,
    value(): Record<string, string> {
      const out: Record<string, string> = {}
      for (const line of rows.querySelectorAll('.region')) {
        const place = line.querySelector<HTMLInputElement>('input')!.value.trim()
        if (place) out[place] = line.querySelector<HTMLSelectElement>('select')!.value
      }
      return out
    },
    set(regions: Record<string, string>): void {
      rows.replaceChildren()
      for (const [place, unit] of Object.entries(regions)) row(place, unit)
    },
  }
}

function ruleForm(app: App, saved: () => void): { element: HTMLElement; edit(rule: Rule): void; destroy(): void } {
  let editing: Rule | null = null
  const name = h('input', { id: 'rule-name', required: true, maxlength: 200 })
  const any = h('input', { id: 'rule-any', autocomplete: 'off' })
  const all = h('input', { id: 'rule-all', autocomplete: 'off' })
  const none = h('input', { id: 'rule-none', autocomplete: 'off' })
  const severity = h('select', { id: 'rule-severity' })
  for (const s of ['low', 'medium', 'high']) severity.append(h('option', { value: s, selected: s === 'medium' }, t(`severity_${s}` as Key)))
  const enabled = h('input', { id: 'rule-enabled', type: 'checkbox', checked: true })
  const unitNames = h('input', { id: 'rule-unit-names', type: 'checkbox', checked: true })
  const regions = regionsEditor(app)
  const shell = editorShell(
    'rule-editor',
    { create: 'rule_new', editing: 'rule_editing', submit: 'rule_create', save: 'rule_save' },
    tx(h('label', { for: 'rule-name' }), 'rule_name'),
    name,
    tx(h('label', { for: 'rule-any' }), 'rule_any_label'),
    any,
    tx(h('label', { for: 'rule-all' }), 'rule_all_label'),
    all,
    tx(h('label', { for: 'rule-none' }), 'rule_none_label'),
    none,
    tx(h('label', { for: 'rule-severity' }), 'rule_severity'),
    severity,
    regions.element,
    h('label', { for: unitNames.id }, unitNames, ' ', tx(h('span', {}), 'rule_unit_names')),
    h('label', { for: 'rule-enabled' }, enabled, ' ', tx(h('span', {}), 'rule_enabled')),
  )
  const errors = fieldErrors('rule-form', { name, any, all, none, severity, regions: regions.element })
  shell.form.append(errors.summary)
  const paint = (): void => shell.paint(editing?.name ?? null)
  const reset = (): void => {
    editing = null
    shell.form.reset()
    regions.set({})
    errors.clear()
    paint()
  }
  shell.cancel.addEventListener('click', reset)
  shell.form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const body = {
      name: name.value.trim(),
      any: keywords(any.value),
      all: keywords(all.value),
      none: keywords(none.value),
      regions: regions.value(),
      use_unit_names: unitNames.checked,
      severity: severity.value,
      enabled: enabled.checked,
    }
    const path = editing ? `/api/monitor/rules/${encodeURIComponent(editing.id)}` : '/api/monitor/rules'
    errors.clear()
    try {
      await request(editing ? 'PATCH' : 'POST', path, body)
      app.notes.show({ kind: 'saved', title: t('rule_saved', { name: body.name }) })
      reset()
      saved()
    } catch (err) {
      errors.show(err)
    }
  })
  paint()
  const stopLang = onLangChange(paint)
  return {
    element: shell.details,
    destroy: stopLang,
    edit(rule: Rule): void {
      editing = rule
      errors.clear()
      name.value = rule.name
      any.value = rule.any.join('、')
      all.value = rule.all.join('、')
      none.value = rule.none.join('、')
      severity.value = rule.severity
      enabled.checked = rule.enabled
      unitNames.checked = rule.use_unit_names ?? true
      regions.set(rule.regions ?? {})
      shell.details.open = true
      paint()
      name.focus()
    },
  }
}
