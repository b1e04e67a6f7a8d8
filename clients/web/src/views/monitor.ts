/**
 * The opinion monitor (舆情监测): alerts with their lifecycle actions
 * (acknowledge, assign as a topic report or a dispatch task, resolve,
 * dismiss) for everyone who sees alerts; and, for the roles that manage the
 * monitor (hub/monitor_api.py: monitors, commanders, chief editors), the
 * sources with their health and the rules, which can be created and edited.
 * Alert events reload the alerts.
 */

import type { App, View } from '../app'
import { statusWord } from '../app'
import { itemsOf, post, request } from '../api'
import { fill, h, when } from '../dom'
import { type Key, lang, onLangChange, t, tx } from '../i18n'
import { act, type Choice, decisionForm } from './actions'
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
    const loadSources = (): void =>
      void sources.load<unknown>('/api/monitor/sources?limit=200', (value) => list(itemsOf<Source>(value), (s) => sourceRow(s)))
    const editor = ruleForm(app, () => loadRules())
    rules.section.insertBefore(editor.element, rules.body)
    const loadRules = (): void =>
      void rules.load<unknown>('/api/monitor/rules?limit=200', (value) => list(itemsOf<Rule>(value), (r) => ruleRow(r, editor.edit)))
    loadSources()
    loadRules()
    cleanups.push(editor.destroy)
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

function sourceRow(source: Source): HTMLElement {
  const error = source.last_error
    ? h('p', { class: 'error', 'data-field': 'last_error' }, t('source_last_error', { error: source.last_error, time: when(source.last_error_at ?? null, lang()) }))
    : ''
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
    h(
      'p',
      { class: 'muted', 'data-field': 'last_success' },
      source.last_success_at ? t('source_last_success', { time: when(source.last_success_at, lang()) }) : t('source_never'),
      source.failures > 0 ? ` · ${t('source_failures', { n: source.failures })}` : '',
    ),
    error,
  )
}

function ruleRow(rule: Rule, edit: (rule: Rule) => void): HTMLElement {
  const words = (key: Key, items: string[]): string => (items.length ? `${t(key)}：${items.join('、')}` : '')
  const button = tx(h('button', { type: 'button' }), 'rule_edit')
  button.setAttribute('aria-label', t('rule_edit_label', { name: rule.name }))
  button.addEventListener('click', () => edit(rule))
  return h(
    'div',
    { class: 'rule', 'data-rule': rule.id },
    h(
      'p',
      { class: 'row' },
      h('span', { class: 'title' }, rule.name),
      h('span', { class: `sev sev-${rule.severity}` }, t(`severity_${rule.severity}` as Key)),
      rule.enabled ? '' : tx(h('span', { class: 'muted' }), 'rule_disabled'),
      button,
    ),
    h('p', { class: 'muted' }, [words('rule_any', rule.any), words('rule_all', rule.all), words('rule_none', rule.none)].filter(Boolean).join(' · ')),
  )
}

/** Keywords typed as a list: separated by commas (either width), 、 or spaces. */
function keywords(value: string): string[] {
  return value
    .split(/[,，、\s]+/)
    .map((w) => w.trim())
    .filter(Boolean)
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
  const heading = h('h3', { id: 'rule-form-heading' })
  const submit = h('button', { type: 'submit', class: 'primary' })
  const cancel = tx(h('button', { type: 'button', hidden: true }), 'rule_cancel')
  const form = h(
    'form',
    { class: 'stack', 'aria-labelledby': 'rule-form-heading' },
    heading,
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
    h('label', { for: 'rule-enabled' }, enabled, ' ', tx(h('span', {}), 'rule_enabled')),
    h('div', { class: 'actions' }, submit, cancel),
  )
  const details = h('details', { class: 'rule-editor' }, tx(h('summary', {}), 'rule_new'), form)
  const paint = (): void => {
    fill(heading, editing ? t('rule_editing', { name: editing.name }) : t('rule_new'))
    fill(submit, t(editing ? 'rule_save' : 'rule_create'))
    cancel.hidden = editing === null
  }
  const reset = (): void => {
    editing = null
    form.reset()
    paint()
  }
  cancel.addEventListener('click', reset)
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const body = {
      name: name.value.trim(),
      any: keywords(any.value),
      all: keywords(all.value),
      none: keywords(none.value),
      severity: severity.value,
      enabled: enabled.checked,
    }
    const path = editing ? `/api/monitor/rules/${encodeURIComponent(editing.id)}` : '/api/monitor/rules'
    const ok = await act(app, () => request(editing ? 'PATCH' : 'POST', path, body))
    if (ok) {
      app.notes.show({ kind: 'saved', title: t('rule_saved', { name: body.name }) })
      reset()
      saved()
    }
  })
  paint()
  const stopLang = onLangChange(paint)
  return {
    element: details,
    destroy: stopLang,
    edit(rule: Rule): void {
      editing = rule
      name.value = rule.name
      any.value = rule.any.join('、')
      all.value = rule.all.join('、')
      none.value = rule.none.join('、')
      severity.value = rule.severity
      enabled.checked = rule.enabled
      details.open = true
      paint()
      name.focus()
    },
  }
}
