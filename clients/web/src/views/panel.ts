/**
 * A titled section whose body is loaded from one API path, with the four
 * states every list shows: loading, failed (with retry), not on this hub yet
 * (404/405: an empty state with a note), and empty.
 */

import { optional } from '../api'
import { fill, h } from '../dom'
import { type Key, onLangChange, t, tx } from '../i18n'

export interface Panel {
  section: HTMLElement
  body: HTMLElement
  /** Load `path` and render it; `null` from `render` means empty. Resolves to the value (null if absent). */
  load<T>(path: string, render: (value: T) => Node | null, fallback?: () => Promise<Node | null>): Promise<T | null>
  destroy(): void
}

export function panel(id: string, title: Key, ...extra: Node[]): Panel {
  // Not a live region: a list reloads on every event, and the notification already says what changed.
  const body = h('div', { class: 'panel-body' })
  const heading = tx(h('h2', { id: `${id}-heading` }), title)
  const section = h('section', { class: 'card', id, 'aria-labelledby': `${id}-heading` }, heading, ...extra, body)
  let last: (() => void) | null = null
  const stopLang = onLangChange(() => last?.())

  const load = async <T>(
    path: string,
    render: (value: T) => Node | null,
    fallback?: () => Promise<Node | null>,
  ): Promise<T | null> => {
    section.setAttribute('aria-busy', 'true')
    if (!body.hasChildNodes()) fill(body, tx(h('p', { class: 'muted' }), 'loading'))
    try {
      const value = await optional<T>(path)
      if (value === null) {
        const replacement = fallback ? await fallback() : null
        last = () =>
          fill(body, replacement ?? h('p', { class: 'muted', 'data-state': 'absent' }, t('not_available', { path })))
      } else {
        last = () => fill(body, render(value) ?? tx(h('p', { class: 'muted', 'data-state': 'empty' }), 'empty'))
      }
      last()
      return value
    } catch (err) {
      const retry = tx(h('button', { type: 'button' }), 'retry')
      retry.addEventListener('click', () => void load(path, render, fallback))
      last = null
      fill(body, h('p', { class: 'error', 'data-state': 'failed' }, t('failed', { message: (err as Error).message })), retry)
      return null
    } finally {
      section.removeAttribute('aria-busy')
    }
  }
  return { section, body, load, destroy: stopLang }
}

/** A list of items, or null (empty) when there are none. */
export function list<T>(items: T[], item: (value: T) => Node, label?: string): HTMLElement | null {
  if (items.length === 0) return null
  const ul = h('ul', { class: 'items', 'aria-label': label })
  for (const value of items) ul.append(h('li', {}, item(value)))
  return ul
}
