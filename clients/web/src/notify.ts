/**
 * Notifications: a list announced by a polite live region (an assertive one
 * for urgent items), each with real buttons for its actions.
 */

import { h } from './dom'
import { t, tx } from './i18n'

export interface Action {
  label: string
  run: () => Promise<void> | void
}

export interface Note {
  title: string
  body?: string
  urgent?: boolean
  kind: string // e.g. "task", "alert", "topic": a CSS hook and a test handle
  actions?: Action[]
}

const MAX_SHOWN = 6

export class Notifications {
  readonly element: HTMLElement
  private readonly list: HTMLOListElement
  private readonly urgent: HTMLElement

  constructor() {
    this.list = h('ol', { class: 'notes', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions' })
    this.urgent = h('div', { class: 'sr-only', role: 'alert' })
    const heading = tx(h('h2', { class: 'sr-only', id: 'notes-heading' }), 'notifications')
    this.element = h('section', { class: 'notes-panel', 'aria-labelledby': 'notes-heading' }, heading, this.list, this.urgent)
  }

  show(note: Note): HTMLElement {
    const item = h('li', { class: `note note-${note.kind}${note.urgent ? ' note-urgent' : ''}`, 'data-kind': note.kind })
    const title = h('p', { class: 'note-title' }, note.title)
    const buttons = h('div', { class: 'note-actions' })
    const dismiss = (): void => item.remove()
    for (const action of note.actions ?? []) {
      const button = h('button', { type: 'button' }, action.label)
      button.addEventListener('click', async () => {
        button.disabled = true
        try {
          await action.run()
          dismiss()
        } catch (err) {
          button.disabled = false
          this.show({ kind: 'error', title: t('action_failed', { message: (err as Error).message }) })
        }
      })
      buttons.append(button)
    }
    buttons.append(tx(h('button', { type: 'button', class: 'quiet', onclick: dismiss }), 'dismiss'))
    item.append(title)
    if (note.body) item.append(h('p', { class: 'note-body' }, note.body))
    item.append(buttons)
    this.list.prepend(item)
    while (this.list.children.length > MAX_SHOWN) this.list.lastElementChild?.remove()
    if (note.urgent) this.urgent.textContent = note.title
    return item
  }
}
