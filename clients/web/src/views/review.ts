/**
 * The open draft's review (三审): its state, the steps the caller may take
 * (with a comment), the pinned version and what changed since, the review
 * history, and the draft's version history (views/versions.ts). Review and
 * draft events on `room:{session}` reload it.
 */

import type { App } from '../app'
import { statusWord } from '../app'
import { get, post } from '../api'
import { fill, h, when } from '../dom'
import { type Key, lang, t, tx } from '../i18n'
import { act, button } from './actions'
import { list, panel } from './panel'
import { diffView, versionHistory } from './versions'

interface ReviewAnswer {
  review: { status: string; level: number | null; pin: string | null; stale: boolean }
  permitted: string[]
  history?: { at: number; actor: string | null; action: string; to: string; level: number | null; comment: string }[]
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
  const p = panel('review', 'review_title')
  const history = versionHistory(app, sessionId, base, viewer)
  p.section.append(viewer, history.element)

  const display = (node: Node): void => {
    const close = button('close', () => viewer.replaceChildren())
    fill(viewer, node, close)
    close.focus()
  }
  const showPin = (pin: string): Promise<boolean> =>
    act(app, async () => {
      const answer = await get<{ text?: string }>(`${base}/versions/${encodeURIComponent(pin)}`)
      const heading = t('version_pinned_view', { id: pin, kind: t('version_kind_pin') })
      display(h('div', {}, h('h4', {}, heading), h('pre', { class: 'version-text', tabindex: '0' }, answer.text ?? '')))
    })
  const showChanges = (pin: string): Promise<boolean> =>
    act(app, async () => {
      const diff = await get<{ unified: string; added: number; removed: number }>(`${base}/diff?from=${encodeURIComponent(pin)}&to=current`)
      display(diffView(t('review_changes'), diff))
    })

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
      viewPin.addEventListener('click', () => void showPin(pin))
      const changes = h('button', { type: 'button' }, t('review_changes'))
      changes.addEventListener('click', () => void showChanges(pin))
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
      h('div', { class: 'row' }, h('span', {}, `${step.actor ?? t('actor_system')}: ${step.action} → ${statusWord(step.to)}`), step.comment ? h('span', { class: 'muted' }, step.comment) : '', h('span', { class: 'muted' }, when(step.at, lang()))),
    )
    if (history !== null) out.append(tx(h('h3', {}), 'review_history'), history)
    return out
  }
  const load = (): void => {
    void p.load<ReviewAnswer>(`${base}/review`, render)
    history.load()
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
