/**
 * The workflow panels of a planning session: review of the open draft with
 * its version history (and a view of a pinned version), the topic board,
 * and dispatch (create a task, follow its receipts live).
 */

import type { App } from '../app'
import { statusWord } from '../app'
import { get, itemsOf, optional, post } from '../api'
import { fill, h, when } from '../dom'
import { type Key, lang, t, tx } from '../i18n'
import type { Task, Topic, Version } from '../types'
import { taskList } from './home'
import { list, panel } from './panel'

const DESK_ROLES = ['duty_editor', 'chief_editor', 'commander']

async function act(app: App, run: () => Promise<unknown>): Promise<boolean> {
  try {
    await run()
    return true
  } catch (err) {
    app.notes.show({ kind: 'error', title: t('action_failed', { message: (err as Error).message }) })
    return false
  }
}

function button(key: Key, onclick: () => void, primary = false): HTMLButtonElement {
  const b = tx(h('button', { type: 'button', class: primary ? 'primary' : '' }), key)
  b.addEventListener('click', onclick)
  return b
}

// -- review and versions ----------------------------------------------------------

interface ReviewAnswer {
  review: { status: string; level: number | null; pin: string | null; stale: boolean }
  permitted: string[]
  history?: { at: number; actor: string; action: string; to: string; level: number | null; comment: string }[]
}

const REVIEW_BUTTONS: [string, Key][] = [
  ['submit', 'review_submit'],
  ['pin', 'review_pin'],
  ['pass', 'review_pass'],
  ['return', 'review_return'],
  ['reject', 'review_reject'],
  ['publish', 'review_publish'],
]

/** The open draft's review: state, the actions the caller may take, the pinned version, history. */
export function reviewPanel(app: App, sessionId: string, draftName: string): { section: HTMLElement; destroy(): void } {
  const base = `/api/sessions/${encodeURIComponent(sessionId)}/drafts/${encodeURIComponent(draftName)}`
  const viewer = h('div', { class: 'version-view', 'aria-live': 'polite' })
  const versions = h('div', { class: 'versions' })
  const p = panel('review', 'review_title')
  p.section.append(viewer, tx(h('h3', {}), 'versions_title'), versions)

  const showText = async (heading: string, path: string, field: 'text' | 'unified'): Promise<void> => {
    await act(app, async () => {
      const answer = await get<Record<string, string>>(path)
      const close = button('close', () => viewer.replaceChildren())
      fill(viewer, h('h4', {}, heading), h('pre', { class: 'version-text', tabindex: '0' }, answer[field] ?? ''), close)
      close.focus()
    })
  }
  const versionKind = (kind: string): string =>
    kind === 'pin' || kind === 'published' ? t(`version_kind_${kind}`) : kind
  const loadVersions = (): void =>
    void (async () => {
      const value = await optional<unknown>(`${base}/versions`)
      const items = value === null ? [] : itemsOf<Version>(value)
      fill(
        versions,
        list(items, (v) => {
          const view = h('button', { type: 'button' }, t('version_view'))
          const heading = t('version_pinned_view', { id: v.id, kind: versionKind(v.kind) })
          view.addEventListener('click', () => void showText(heading, `${base}/versions/${encodeURIComponent(v.id)}`, 'text'))
          return h(
            'div',
            { class: 'row', 'data-version': v.id },
            h('span', {}, `#${v.id} ${versionKind(v.kind)}`),
            v.level ? h('span', {}, t('review_level', { n: v.level })) : '',
            h('span', { class: 'muted' }, when(v.created_at, lang())),
            v.created_by ? h('span', { class: 'muted' }, v.created_by) : '',
            view,
          )
        }) ?? tx(h('p', { class: 'muted' }), 'empty'),
      )
    })().catch(() => fill(versions, tx(h('p', { class: 'muted' }), 'empty')))

  const render = (answer: ReviewAnswer): Node => {
    const { review, permitted } = answer
    const out = h('div', { class: 'review-state' })
    const status = h('p', { 'data-status': review.status }, t('review_status', { status: statusWord(review.status) }))
    if (review.level) status.append(` · ${t('review_level', { n: review.level })}`)
    if (review.stale) status.append(` · ${t('review_stale')}`)
    out.append(status)
    if (review.pin !== null) {
      const pin = review.pin
      const viewPin = h('button', { type: 'button' }, t('review_view_pin'))
      viewPin.addEventListener('click', () => void showText(t('version_pinned_view', { id: pin, kind: t('version_kind_pin') }), `${base}/versions/${encodeURIComponent(pin)}`, 'text'))
      const changes = h('button', { type: 'button' }, t('review_changes'))
      changes.addEventListener('click', () => void showText(t('review_changes'), `${base}/diff?from=${encodeURIComponent(pin)}&to=current`, 'unified'))
      out.append(h('div', { class: 'actions' }, viewPin, changes))
    }
    const comment = h('input', { id: 'review-comment', maxlength: 2000 })
    const actions = h('div', { class: 'actions' })
    for (const [action, key] of REVIEW_BUTTONS) {
      if (!permitted.includes(action)) continue
      const path = action === 'pass' || action === 'return' || action === 'reject' ? 'review' : action
      const body = path === 'review' ? () => ({ decision: action, comment: comment.value, pin: review.pin }) : () => ({ comment: comment.value })
      actions.append(
        button(key, async () => {
          if (await act(app, () => post(`${base}/${path}`, body()))) load()
        }, action === 'pass' || action === 'submit' || action === 'publish'),
      )
    }
    if (actions.hasChildNodes()) {
      out.append(h('div', { class: 'actions' }, tx(h('label', { for: 'review-comment' }), 'review_comment'), comment), actions)
    }
    const history = list(answer.history ?? [], (step) =>
      h('div', { class: 'row' }, h('span', {}, `${step.actor}: ${step.action} → ${statusWord(step.to)}`), step.comment ? h('span', { class: 'muted' }, step.comment) : '', h('span', { class: 'muted' }, when(step.at, lang()))),
    )
    if (history !== null) out.append(tx(h('h3', {}), 'review_history'), history)
    return out
  }
  const load = (): void => {
    void p.load<ReviewAnswer>(`${base}/review`, render)
    loadVersions()
  }
  load()
  const stop = app.live.on('event', (e) => {
    if (e.channel === `room:${sessionId}` && (e.event.startsWith('review.') || e.event.startsWith('draft.'))) load()
  })
  return {
    section: p.section,
    destroy: () => {
      stop()
      p.destroy()
    },
  }
}

// -- topic board -------------------------------------------------------------------

export function topicBoard(app: App, sessionId: string): { section: HTMLElement; destroy(): void } {
  const me = app.me!
  const p = panel('board', 'board_title')
  const desk = me.roles.some((r) => DESK_ROLES.includes(r)) || app.units.get(me.unit)?.kind === 'city_outlet'
  const load = (): void =>
    void p.load<unknown>('/api/topics', (value) => {
      const topics = itemsOf<Topic>(value)
      if (topics.length === 0) return null
      const columns = h('div', { class: 'board' })
      const byStatus = new Map<string, Topic[]>()
      for (const topic of topics) byStatus.set(topic.status, [...(byStatus.get(topic.status) ?? []), topic])
      for (const [status, items] of byStatus) {
        const column = h('section', { class: 'column', 'aria-label': statusWord(status) }, h('h3', {}, statusWord(status)))
        column.append(list(items, (topic) => topicCard(app, sessionId, topic, desk, load)) ?? '')
        columns.append(column)
      }
      return columns
    })
  load()
  const stop = app.live.on('event', (e) => {
    if (e.event.startsWith('topic.')) load()
  })
  return {
    section: p.section,
    destroy: () => {
      stop()
      p.destroy()
    },
  }
}

function topicCard(app: App, sessionId: string, topic: Topic, desk: boolean, reload: () => void): HTMLElement {
  const card = h('div', { class: 'topic', 'data-topic': topic.id }, h('p', { class: 'title' }, topic.title), app.unitBadge(topic.unit))
  if (topic.angle) card.append(h('p', { class: 'muted' }, topic.angle))
  if (desk && topic.status === 'submitted') {
    const reason = h('input', { 'aria-label': t('topic_reason'), maxlength: 500 })
    const base = `/api/topics/${encodeURIComponent(topic.id)}`
    const approve = button('topic_approve', async () => {
      if (await act(app, () => post(`${base}/approve`, { reason: reason.value, session: sessionId }))) reload()
    }, true)
    const giveBack = button('topic_return', async () => {
      if (await act(app, () => post(`${base}/return`, { reason: reason.value }))) reload()
    })
    card.append(reason, approve, giveBack)
  }
  return card
}

// -- dispatch ------------------------------------------------------------------------

export function dispatchPanel(app: App, sessionId: string, memberUnits: string[]): { section: HTMLElement; destroy(): void } {
  const form = dispatchForm(app, sessionId, memberUnits)
  const p = panel('dispatch', 'dispatch_title', form)
  const load = (): void =>
    void p.load<unknown>('/api/tasks?box=sent', (value) => {
      const tasks = itemsOf<Task>(value).filter((task) => task.session === sessionId)
      return taskList(app, tasks, false)
    })
  load()
  const stop = app.live.on('event', (e) => {
    if (e.event.startsWith('task.') || e.event.startsWith('receipt.')) load()
  })
  window.addEventListener('tongpin:refresh', load)
  return {
    section: p.section,
    destroy: () => {
      stop()
      window.removeEventListener('tongpin:refresh', load)
      p.destroy()
    },
  }
}

function dispatchForm(app: App, sessionId: string, memberUnits: string[]): HTMLElement {
  const title = h('input', { id: 'task-title', required: true, maxlength: 200 })
  const body = h('textarea', { id: 'task-body', rows: 2, maxlength: 2000 })
  const priority = h('select', { id: 'task-priority' })
  for (const value of ['low', 'normal', 'high', 'urgent']) {
    priority.append(h('option', { value, selected: value === 'normal' }, t(`priority_${value}` as Key)))
  }
  const deadline = h('input', { id: 'task-deadline', type: 'datetime-local', required: true })
  const units = h('fieldset', { class: 'units' }, tx(h('legend', {}), 'dispatch_to'))
  for (const code of memberUnits) {
    const id = `to-${code}`
    units.append(h('label', { for: id }, h('input', { type: 'checkbox', id, value: code, name: 'to' }), app.unitName(code)))
  }
  const form = h(
    'form',
    { class: 'stack' },
    tx(h('label', { for: 'task-title' }), 'dispatch_task_title'),
    title,
    tx(h('label', { for: 'task-body' }), 'dispatch_body'),
    body,
    tx(h('label', { for: 'task-priority' }), 'dispatch_priority'),
    priority,
    tx(h('label', { for: 'task-deadline' }), 'dispatch_deadline'),
    deadline,
    units,
    tx(h('button', { type: 'submit', class: 'primary' }), 'dispatch_send'),
  )
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const recipients = [...units.querySelectorAll<HTMLInputElement>('input:checked')].map((el) => ({ unit: el.value }))
    const sent = await act(app, () =>
      post('/api/tasks', {
        title: title.value.trim(),
        body: body.value.trim(),
        priority: priority.value,
        deadline_at: new Date(deadline.value).getTime() / 1000,
        recipients,
        session: sessionId,
      }),
    )
    if (sent) {
      app.notes.show({ kind: 'sent', title: t('dispatch_sent', { title: title.value.trim() }) })
      form.reset()
      window.dispatchEvent(new CustomEvent('tongpin:refresh'))
    }
  })
  return h('details', { class: 'dispatch-form' }, tx(h('summary', {}), 'dispatch_form'), form)
}
