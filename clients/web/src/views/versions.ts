/**
 * A draft's version history: every pinned or published version, any two of
 * them (or the document now) compared line by line, and a version restored
 * as a new draft of the session (the hub copies that version's state into
 * it: `POST .../versions/{v}/restore`).
 */

import type { App } from '../app'
import { get, itemsOf, optional, post } from '../api'
import { fill, h, when } from '../dom'
import { lang, t, tx } from '../i18n'
import type { Draft, Version } from '../types'
import { act, button } from './actions'
import { list } from './panel'

interface Diff {
  unified: string
  added: number
  removed: number
}

export function versionKind(kind: string): string {
  return kind === 'pin' || kind === 'published' ? t(`version_kind_${kind}`) : kind
}

/** A diff as lines marked added or removed (`<ins>`/`<del>`, with words for screen readers). */
export function diffView(heading: string, diff: Diff): HTMLElement {
  const lines = h('pre', { class: 'diff', tabindex: '0', 'aria-label': heading })
  for (const line of diff.unified.split('\n')) {
    if (line.startsWith('+++') || line.startsWith('---') || line === '') continue
    if (line.startsWith('@@')) lines.append(h('span', { class: 'hunk' }, line), '\n')
    else if (line.startsWith('+')) lines.append(h('ins', {}, h('span', { class: 'sr-only' }, t('diff_added_line')), line), '\n')
    else if (line.startsWith('-')) lines.append(h('del', {}, h('span', { class: 'sr-only' }, t('diff_removed_line')), line), '\n')
    else lines.append(h('span', {}, line), '\n')
  }
  const summary = h('p', { class: 'diff-summary', 'data-added': diff.added, 'data-removed': diff.removed }, t('diff_summary', { added: diff.added, removed: diff.removed }))
  if (diff.added === 0 && diff.removed === 0) return h('div', {}, h('h4', {}, heading), summary, tx(h('p', { class: 'muted' }), 'diff_same'))
  return h('div', {}, h('h4', {}, heading), summary, lines)
}

export interface VersionHistory {
  element: HTMLElement
  load(): void
}

/** The list, the compare form and the restore buttons; results go to `viewer`. */
export function versionHistory(app: App, sessionId: string, base: string, viewer: HTMLElement): VersionHistory {
  const rows = h('div', { class: 'versions' })
  const from = h('select', { id: 'diff-from' })
  const to = h('select', { id: 'diff-to' })
  const compare = button('diff_compare', () => void show())
  const form = h(
    'div',
    { class: 'compare actions', role: 'group' },
    tx(h('label', { for: 'diff-from' }), 'diff_from'),
    from,
    tx(h('label', { for: 'diff-to' }), 'diff_to'),
    to,
    compare,
  )
  tx(form, 'diff_title', 'aria-label')
  const element = h('div', {}, tx(h('h3', {}), 'versions_title'), form, rows)

  const display = (node: Node): void => {
    const close = button('close', () => viewer.replaceChildren())
    fill(viewer, node, close)
    close.focus()
  }
  const show = async (): Promise<void> => {
    const label = (select: HTMLSelectElement): string => select.selectedOptions[0]?.textContent ?? select.value
    const heading = t('diff_heading', { from: label(from), to: label(to) })
    await act(app, async () => {
      const diff = await get<Diff>(`${base}/diff?from=${encodeURIComponent(from.value)}&to=${encodeURIComponent(to.value)}`)
      display(diffView(heading, diff))
    })
  }
  const view = async (v: Version): Promise<void> => {
    await act(app, async () => {
      const answer = await get<{ text?: string }>(`${base}/versions/${encodeURIComponent(v.id)}`)
      const heading = t('version_pinned_view', { id: v.id, kind: versionKind(v.kind) })
      display(h('div', {}, h('h4', {}, heading), h('pre', { class: 'version-text', tabindex: '0' }, answer.text ?? '')))
    })
  }
  const restore = async (v: Version): Promise<void> => {
    let made: Draft | null = null
    const ok = await act(app, async () => {
      made = await post<Draft>(`${base}/versions/${encodeURIComponent(v.id)}/restore`, {})
    })
    if (ok && made !== null) {
      const draft: Draft = made
      app.notes.show({ kind: 'restored', title: t('version_restored', { id: v.id, title: draft.title }) })
      location.hash = `#/s/${encodeURIComponent(sessionId)}/${encodeURIComponent(draft.name)}`
    }
  }

  const load = (): void =>
    void (async () => {
      const value = await optional<unknown>(`${base}/versions`)
      const items = value === null ? [] : itemsOf<Version>(value)
      const keepFrom = from.value
      const keepTo = to.value
      const options = (select: HTMLSelectElement, keep: string, fallback: string): void => {
        select.replaceChildren(h('option', { value: 'current' }, t('diff_current')))
        for (const v of items) select.append(h('option', { value: v.id }, `#${v.id} ${versionKind(v.kind)}`))
        const values = ['current', ...items.map((v) => v.id)]
        select.value = values.includes(keep) ? keep : fallback
      }
      // Default: the latest version against the document now.
      options(from, keepFrom, items.at(-1)?.id ?? 'current')
      options(to, keepTo, 'current')
      form.hidden = items.length === 0
      fill(
        rows,
        list(items, (v) => {
          const viewButton = button('version_view', () => void view(v))
          const restoreButton = button('version_restore', () => void restore(v))
          restoreButton.setAttribute('aria-label', t('version_restore_label', { id: v.id }))
          viewButton.setAttribute('aria-label', t('version_view_label', { id: v.id }))
          return h(
            'div',
            { class: 'row', 'data-version': v.id },
            h('span', {}, `#${v.id} ${versionKind(v.kind)}`),
            v.level ? h('span', {}, t('review_level', { n: v.level })) : '',
            h('span', { class: 'muted' }, when(v.created_at, lang())),
            v.created_by ? h('span', { class: 'muted' }, v.created_by) : '',
            viewButton,
            app.me?.may_edit ? restoreButton : '',
          )
        }) ?? tx(h('p', { class: 'muted' }), 'empty'),
      )
    })().catch(() => fill(rows, tx(h('p', { class: 'muted' }), 'empty')))
  return { element, load }
}
