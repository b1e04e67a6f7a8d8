/**
 * The home page: my planning sessions, my unit's inbox, tasks I sent, topic
 * reports, the unit on duty and recent alerts; for the city desk (commanders,
 * chief editors, the city outlets' editors and duty editors, the duty editors
 * of the unit on duty now) first of all the topics awaiting its decision, from
 * every unit, each decided in place or on a session's topic board. Each list
 * reloads when a /live event says it changed (or a resubscribe could not
 * recover); the desk's roles that may subscribe to `duty` hear every unit's
 * topic events there.
 */

import type { App, View } from '../app'
import { statusWord } from '../app'
import { get, itemsOf } from '../api'
import { append, h, when } from '../dom'
import { lang, t, tx } from '../i18n'
import type { Alert, Duty, Session, Task, Topic } from '../types'
import { decisionForm } from './actions'
import { taskList } from './dispatch'
import { list, panel } from './panel'
import { deskChoices, isDesk } from './topics'

export function homeView(app: App): View {
  const me = app.me!
  const sessions = panel('sessions', 'sessions_title')
  const inbox = panel('inbox', 'inbox_title')
  const sent = panel('sent', 'sent_title')
  const topics = panel('topics', 'topics_title')
  const duty = panel('duty', 'duty_title')
  const alerts = panel('alerts', 'alerts_title')
  const pending = panel('pending', 'pending_title')
  const panels = [pending, sessions, inbox, sent, topics, duty, alerts]
  const heading = tx(h('h1', { class: 'sr-only' }), 'home_title')
  app.main.append(heading, h('div', { class: 'desk' }, ...panels.map((p) => p.section)))
  // Shown once the caller is known to be the desk: for a duty editor elsewhere, that waits for the rotation.
  let onDuty: string | null | undefined = null
  const desk = (): boolean => isDesk(app, onDuty)
  pending.section.hidden = !desk()

  const loadSessions = (): void =>
    void sessions.load<unknown>(
      '/api/sessions',
      (value) => sessionList(app, itemsOf<Session>(value)),
      async () => {
        const rooms = itemsOf<Session>(await get<unknown>('/api/rooms'), 'rooms')
        const note = tx(h('p', { class: 'muted' }), 'sessions_rooms_note')
        const out = h('div', {}, note)
        append(out, sessionList(app, rooms) ?? '')
        return out
      },
    )
  const loadInbox = (): void =>
    void inbox.load<unknown>('/api/tasks?box=inbox', (value) => taskList(app, itemsOf<Task>(value), true, loadInbox))
  const loadSent = (): void =>
    void sent.load<unknown>('/api/tasks?box=sent', (value) => taskList(app, itemsOf<Task>(value), false, loadSent))
  const loadTopics = (): void =>
    void topics.load<unknown>(`/api/topics?unit=${encodeURIComponent(me.unit)}`, (value) =>
      list(itemsOf<Topic>(value), (topic) =>
        h('div', { class: 'row' }, h('span', {}, topic.title), h('span', { class: `status s-${topic.status}` }, statusWord(topic.status))),
      ),
    )
  const loadPending = (): void => {
    if (!desk()) return
    // The open sessions are where a topic may be approved into; without them it is returned or rejected here.
    void get<unknown>('/api/sessions?status=open&limit=200')
      .then((value) => itemsOf<Session>(value))
      .catch(() => [] as Session[])
      .then((open) =>
        pending.load<unknown>('/api/topics?status=submitted&limit=200', (value) => pendingList(app, newestFirst(itemsOf<Topic>(value)), open, loadPending)),
      )
  }
  const loadDuty = (): void =>
    void duty
      .load<Duty>('/api/duty', (value) => dutyView(app, value))
      .then((value) => {
        const was = desk()
        onDuty = value?.current?.unit ?? null
        pending.section.hidden = !desk()
        if (desk() && !was) loadPending()
      })
  const loadAlerts = (): void =>
    void alerts.load<unknown>('/api/alerts?limit=10', (value) =>
      list(itemsOf<Alert>(value), (alert) =>
        h(
          'div',
          { class: `row sev-${alert.severity ?? 'normal'}` },
          alert.url ? h('a', { href: alert.url, rel: 'noopener noreferrer', target: '_blank' }, alert.title) : h('span', {}, alert.title),
          h('span', { class: 'muted' }, when(alert.created_at, lang())),
        ),
      ),
    )
  loadPending()
  loadSessions()
  loadInbox()
  loadSent()
  loadTopics()
  loadDuty()
  loadAlerts()

  const byPrefix: [string, () => void][] = [
    ['task.', loadInbox],
    ['task.', loadSent],
    ['receipt.', loadSent],
    ['receipt.', loadInbox],
    ['topic.', loadTopics],
    ['topic.', loadPending],
    ['session.', loadPending],
    ['duty.', loadDuty],
    ['alert.', loadAlerts],
    ['session.', loadSessions],
  ]
  const stopEvents = app.live.on('event', (e) => {
    for (const [prefix, reload] of byPrefix) if (e.event.startsWith(prefix)) reload()
  })
  const reloadAll = (): void => {
    for (const reload of [loadPending, loadSessions, loadInbox, loadSent, loadTopics, loadDuty, loadAlerts]) reload()
  }
  const stopReload = app.live.on('reload', reloadAll)
  const refresh = (): void => {
    loadInbox()
    loadSent()
  }
  window.addEventListener('tongpin:refresh', refresh)
  return () => {
    stopEvents()
    stopReload()
    window.removeEventListener('tongpin:refresh', refresh)
    for (const p of panels) p.destroy()
  }
}

function sessionList(app: App, sessions: Session[]): HTMLElement | null {
  return list(sessions, (s) => {
    const link = h('a', { href: `#/s/${encodeURIComponent(s.id)}`, class: 'title' }, s.title)
    const meta = h(
      'span',
      { class: 'muted' },
      t('session_owner', { unit: app.unitName(s.owner_unit) }),
      ' · ',
      t('session_members', { n: s.member_units.length }),
      typeof s.drafts_count === 'number' ? ` · ${t('session_drafts', { n: s.drafts_count })}` : '',
    )
    return h('div', { class: 'row' }, link, s.status ? h('span', { class: `status s-${s.status}` }, statusWord(s.status)) : '', meta)
  })
}

function dutyView(app: App, duty: Duty): HTMLElement | null {
  if (!duty.current) return null
  const out = h('div', { class: 'duty' })
  const current = h('p', {}, t('duty_current', { unit: '' }), app.unitBadge(duty.current.unit))
  if (typeof duty.current.until_at === 'number') append(current, ' ', h('span', { class: 'muted' }, t('duty_until', { time: when(duty.current.until_at, lang()) })))
  out.append(current)
  if (duty.next) out.append(h('p', { class: 'muted' }, t('duty_next', { unit: app.unitName(duty.next.unit) })))
  return out
}

/** Topics newest first: the last submitted (or resubmitted) on top. */
function newestFirst(topics: Topic[]): Topic[] {
  const at = (topic: Topic): number => topic.updated_at ?? topic.created_at ?? 0
  return [...topics].sort((a, b) => at(b) - at(a) || Number(b.id) - Number(a.id))
}

/** Each topic awaiting the desk: approve into an open session (picked here), return, reject, or open that session's board. */
function pendingList(app: App, topics: Topic[], open: Session[], reload: () => void): HTMLElement | null {
  return list(topics, (topic) => {
    const id = `pending-${topic.id}`
    const row = h(
      'article',
      { class: 'topic', 'data-topic': topic.id, 'aria-label': topic.title },
      h('p', { class: 'title' }, topic.title),
      h('p', { class: 'row' }, app.unitBadge(topic.unit), topic.proposed_date ? h('span', { class: 'muted' }, topic.proposed_date) : '', h('span', { class: 'muted' }, when(topic.updated_at ?? topic.created_at, lang()))),
    )
    if (topic.angle) row.append(h('p', { class: 'muted' }, topic.angle))
    if (open.length === 0) {
      row.append(tx(h('p', { class: 'muted' }), 'pending_no_session'))
      row.append(decisionForm(app, id, deskChoices(topic, () => '').filter((c) => c.action !== 'approve'), reload))
      return row
    }
    const into = h('select', { id: `${id}-session` })
    for (const s of open) into.append(h('option', { value: s.id }, s.title))
    const board = tx(h('a', { href: `#/s/${encodeURIComponent(open[0].id)}`, class: 'board-link' }), 'pending_board')
    into.addEventListener('change', () => board.setAttribute('href', `#/s/${encodeURIComponent(into.value)}`))
    const field = h('div', { class: 'field' }, tx(h('label', { for: into.id }), 'pending_session'), into, ' ', board)
    row.append(decisionForm(app, id, deskChoices(topic, () => into.value), reload, field))
    return row
  })
}
