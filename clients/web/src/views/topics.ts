/**
 * The topic board (报题看板): every topic the caller may see, by status,
 * each with its history. The city desk approves a submitted topic into this
 * session, returns, merges (into another topic it picks) or rejects it; the
 * topic's unit resubmits a returned topic or withdraws it. Return, merge and
 * reject need a reason (the workflow refuses them without); so do resubmit
 * and withdraw here, so the desk learns why. Topic events reload the board.
 */

import type { App } from '../app'
import { statusWord } from '../app'
import { get, itemsOf, post } from '../api'
import { h, when } from '../dom'
import { lang, t, tx } from '../i18n'
import type { Topic } from '../types'
import { type Choice, decisionForm } from './actions'
import { list, panel } from './panel'

const DESK_ROLES = ['chief_editor', 'commander'] // anywhere
const CITY_DESK_ROLES = ['editor', 'duty_editor'] // in a city outlet
const WRITER_ROLES = ['reporter', 'editor', 'duty_editor', 'reviewer_1', 'reviewer_2', 'reviewer_3', 'chief_editor', 'commander']
const ORDER = ['submitted', 'returned', 'approved', 'merged', 'rejected', 'withdrawn']

/**
 * Whether the signed-in user is the desk (rooms/workflow.py: Actor.is_desk), given the unit on
 * duty now; `undefined` (not known here) counts every duty editor in. The hub decides; this only
 * chooses what to offer.
 */
export function isDesk(app: App, onDuty?: string | null): boolean {
  const me = app.me!
  if (me.roles.some((r) => DESK_ROLES.includes(r))) return true
  if (app.units.get(me.unit)?.kind === 'city_outlet' && me.roles.some((r) => CITY_DESK_ROLES.includes(r))) return true
  return me.roles.includes('duty_editor') && (onDuty === undefined || onDuty === me.unit)
}

/** The desk's decisions on a submitted topic: approve into `session()`, return, reject. */
export function deskChoices(topic: Topic, session: () => string): Choice[] {
  const base = `/api/topics/${encodeURIComponent(topic.id)}`
  return [
    { action: 'approve', key: 'topic_approve', needsReason: false, primary: true, run: (reason) => post(`${base}/approve`, { reason, session: session() }) },
    { action: 'return', key: 'topic_return', needsReason: true, run: (reason) => post(`${base}/return`, { reason }) },
    { action: 'reject', key: 'topic_reject', needsReason: true, run: (reason) => post(`${base}/reject`, { reason }) },
  ]
}

export function topicBoard(app: App, sessionId: string): { section: HTMLElement; destroy(): void } {
  const me = app.me!
  const p = panel('board', 'board_title')
  const desk = isDesk(app)
  const writer = me.roles.some((r) => WRITER_ROLES.includes(r))
  const expanded = new Set<string>() // topics whose history is open, kept across reloads
  const load = (): void =>
    void p.load<unknown>('/api/topics?limit=200', (value) => {
      const topics = itemsOf<Topic>(value)
      if (topics.length === 0) return null
      const columns = h('div', { class: 'board' })
      const statuses = [...new Set([...ORDER, ...topics.map((x) => x.status)])]
      for (const status of statuses) {
        const items = topics.filter((x) => x.status === status)
        if (items.length === 0) continue
        const column = h('section', { class: 'column', 'data-column': status, 'aria-label': statusWord(status) }, h('h3', {}, `${statusWord(status)} (${items.length})`))
        column.append(list(items, (topic) => topicCard(app, sessionId, topic, topics, { desk, mine: writer && topic.unit === me.unit }, expanded, load)) ?? '')
        columns.append(column)
      }
      return columns
    })
  load()
  const stop = app.live.on('event', (e) => {
    if (e.event.startsWith('topic.')) load()
  })
  const stopReload = app.live.on('reload', () => load())
  return {
    section: p.section,
    destroy: () => {
      stop()
      stopReload()
      p.destroy()
    },
  }
}

function topicCard(
  app: App,
  sessionId: string,
  topic: Topic,
  all: Topic[],
  may: { desk: boolean; mine: boolean },
  expanded: Set<string>,
  reload: () => void,
): HTMLElement {
  const card = h(
    'article',
    { class: 'topic', 'data-topic': topic.id, 'data-status': topic.status, 'aria-label': topic.title },
    h('p', { class: 'title' }, topic.title),
    h('p', { class: 'row' }, app.unitBadge(topic.unit), h('span', { class: `status s-${topic.status}` }, statusWord(topic.status)), topic.proposed_date ? h('span', { class: 'muted' }, topic.proposed_date) : ''),
  )
  if (topic.angle) card.append(h('p', { class: 'muted' }, topic.angle))
  if (topic.merged_into) {
    const into = all.find((x) => x.id === topic.merged_into)
    card.append(h('p', { class: 'muted' }, t('topic_merged_into', { title: into?.title ?? `#${topic.merged_into}` })))
  }
  if (topic.session && topic.draft) {
    card.append(h('a', { href: `#/s/${encodeURIComponent(topic.session)}/${encodeURIComponent(topic.draft)}` }, t('topic_open_draft')))
  }
  const base = `/api/topics/${encodeURIComponent(topic.id)}`
  const id = `topic-${topic.id}`
  if (may.desk && topic.status === 'submitted') {
    const others = all.filter((x) => x.id !== topic.id && (x.status === 'submitted' || x.status === 'approved'))
    const into = h('select', { id: `${id}-into` })
    for (const other of others) into.append(h('option', { value: other.id }, `#${other.id} ${other.title}`))
    const choices = deskChoices(topic, () => sessionId)
    const extra: Node[] = []
    if (others.length > 0) {
      choices.push({ action: 'merge', key: 'topic_merge', needsReason: true, run: (reason) => post(`${base}/merge`, { reason, into: into.value }) })
      extra.push(h('div', { class: 'field' }, tx(h('label', { for: into.id }), 'topic_merge_into'), into))
    }
    card.append(decisionForm(app, id, choices, reload, ...extra))
  } else if (may.mine && topic.status === 'returned') {
    const choices: Choice[] = [
      { action: 'resubmit', key: 'topic_resubmit', needsReason: true, primary: true, run: (reason) => post(`${base}/resubmit`, { reason }) },
      { action: 'withdraw', key: 'topic_withdraw', needsReason: true, run: (reason) => post(`${base}/withdraw`, { reason }) },
    ]
    card.append(decisionForm(app, id, choices, reload))
  }
  // The history is in the topic's own answer only: loaded when opened, and again on every reload while open.
  const history = h('div', { class: 'history-body', 'aria-live': 'polite' })
  const details = h('details', { class: 'history', open: expanded.has(topic.id) }, tx(h('summary', {}), 'topic_history'), history)
  const fill = (): void =>
    void get<Topic | { topic: Topic }>(base)
      .then((answer) => {
        const steps = ('topic' in answer ? answer.topic : answer).history ?? []
        history.replaceChildren(
          list(steps, (step) =>
            h(
              'div',
              { class: 'row step', 'data-action': step.action },
              h('span', {}, t('topic_step', { actor: step.actor, action: topicAction(step.action) })),
              step.reason ? h('span', { class: 'reason' }, step.reason) : '',
              h('span', { class: 'muted' }, when(step.at, lang())),
            ),
          ) ?? tx(h('p', { class: 'muted' }), 'empty'),
        )
      })
      .catch((err: Error) => history.replaceChildren(h('p', { class: 'error' }, t('failed', { message: err.message }))))
  details.addEventListener('toggle', () => {
    if (details.open) {
      expanded.add(topic.id)
      fill()
    } else expanded.delete(topic.id)
  })
  if (details.open) fill()
  card.append(details)
  return card
}

function topicAction(action: string): string {
  const words: Record<string, 'topic_approve' | 'topic_return' | 'topic_reject' | 'topic_merge' | 'topic_resubmit' | 'topic_withdraw' | 'topic_submit'> = {
    approve: 'topic_approve',
    return: 'topic_return',
    reject: 'topic_reject',
    merge: 'topic_merge',
    resubmit: 'topic_resubmit',
    withdraw: 'topic_withdraw',
    submit: 'topic_submit',
  }
  return action in words ? t(words[action]) : action
}
