/**
 * Notifications: short-lived toasts in a corner, and a list behind the bell
 * in the header that keeps every notification of this page with an unread
 * count.
 *
 * - Informational toasts leave by themselves after a few seconds; the timer
 *   pauses while the pointer or the keyboard focus is on the stack, so
 *   nothing disappears while it is being read or used. Important ones (a
 *   task to acknowledge, a severe alert, an error, anything with an action)
 *   stay until dismissed or acted on.
 * - The stack is compact: a few toasts (one on a phone; important ones
 *   first), the rest behind a "N more" button that opens the list. The page reserves room under its
 *   content for the stack (`--notes-space`), so every control can be
 *   scrolled clear of it.
 * - Each notification is announced to screen readers once, in one live
 *   region (polite, or assertive when urgent); the toasts and the list are
 *   not live regions themselves.
 * - A notification with a `key` already shown (the same live event heard on
 *   two channels) is not shown again.
 */

import { h, when } from './dom'
import { lang, onLangChange, t, tx } from './i18n'

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
  /** Stays until dismissed or acted on (default: urgent, errors, and notes with actions). */
  sticky?: boolean
  /** Identity of what it is about: a second note with the same key is dropped. */
  key?: string
}

interface Entry {
  note: Note
  at: number
  read: boolean
  done: boolean // acted on or dismissed: no toast, no actions
  toast: HTMLElement | null
  item: HTMLElement // in the list behind the bell
  remaining: number // ms left before an informational toast leaves
  started: number | null // when its timer last started (null: not running)
  timer: number | undefined
}

/** How long an informational toast stays (not counting time paused). */
export const TOAST_MS = 6_000
const HISTORY = 50
const ANNOUNCED = 3 // past announcements kept in the polite region
const DEDUP_MS = 10 * 60_000
const PHONE = '(max-width: 760px)'

export class Notifications {
  /** The toast stack, placed after `<main>`. */
  readonly element: HTMLElement
  /** The bell and its list, placed in the header. */
  readonly bell: HTMLElement
  private readonly stack: HTMLOListElement
  private readonly more: HTMLButtonElement
  private readonly polite: HTMLElement
  private readonly assertive: HTMLElement
  private readonly button: HTMLButtonElement
  private readonly badge: HTMLElement
  private readonly center: HTMLElement
  private readonly history: HTMLOListElement
  private readonly entries: Entry[] = []
  private readonly seen = new Map<string, number>()
  private paused = false

  constructor() {
    this.stack = h('ol', { class: 'notes' })
    this.more = h('button', { type: 'button', class: 'notes-more', hidden: true, 'aria-controls': 'notes-center' })
    this.more.addEventListener('click', () => this.open(true))
    this.polite = h('div', { class: 'sr-only', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'data-announce': 'polite' })
    this.assertive = h('div', { class: 'sr-only', role: 'alert', 'data-announce': 'assertive' })
    const heading = tx(h('h2', { class: 'sr-only', id: 'notes-heading' }), 'notifications')
    this.element = h('section', { class: 'notes-panel', 'aria-labelledby': 'notes-heading' }, heading, this.stack, this.more, this.polite, this.assertive)
    this.element.addEventListener('mouseenter', () => this.pause(true))
    this.element.addEventListener('mouseleave', () => this.pause(this.element.contains(document.activeElement)))
    this.element.addEventListener('focusin', () => this.pause(true))
    this.element.addEventListener('focusout', (ev) => {
      if (!this.element.contains(ev.relatedTarget as Node | null)) this.pause(this.element.matches(':hover'))
    })

    this.badge = h('span', { class: 'bell-count', 'aria-hidden': 'true', hidden: true })
    this.button = h(
      'button',
      { type: 'button', class: 'bell', 'aria-expanded': 'false', 'aria-controls': 'notes-center' },
      bellIcon(),
      this.badge,
    )
    this.button.addEventListener('click', () => this.open(this.center.hidden))
    this.history = h('ol', { class: 'notes-history' })
    const readAll = tx(h('button', { type: 'button', class: 'quiet' }), 'notes_read_all')
    readAll.addEventListener('click', () => this.markRead())
    const clear = tx(h('button', { type: 'button', class: 'quiet' }), 'notes_clear')
    clear.addEventListener('click', () => this.clear())
    const close = tx(h('button', { type: 'button', class: 'quiet' }), 'close')
    close.addEventListener('click', () => this.open(false, true))
    this.center = h(
      'section',
      { class: 'notes-center', id: 'notes-center', hidden: true, 'aria-labelledby': 'notes-center-heading' },
      h('div', { class: 'notes-center-head' }, tx(h('h2', { id: 'notes-center-heading' }), 'notifications'), readAll, clear, close),
      this.history,
      tx(h('p', { class: 'muted notes-none' }), 'notes_none'),
    )
    this.center.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') this.open(false, true)
    })
    this.button.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && !this.center.hidden) this.open(false, true)
    })
    document.addEventListener('click', (ev) => {
      if (!this.center.hidden && !this.bell.contains(ev.target as Node) && !this.more.contains(ev.target as Node)) this.open(false)
    })
    this.bell = h('div', { class: 'bell-box' }, this.button, this.center)

    // Room under the page for the stack, so no control stays hidden behind it.
    new ResizeObserver(() => {
      document.documentElement.style.setProperty('--notes-space', `${this.element.offsetHeight}px`)
    }).observe(this.element)
    window.matchMedia(PHONE).addEventListener('change', () => this.layout())
    onLangChange(() => {
      this.layout()
      for (const entry of this.entries) this.paintItem(entry)
    })
    this.layout()
  }

  show(note: Note): HTMLElement {
    const now = Date.now()
    for (const [key, at] of this.seen) if (now - at > DEDUP_MS) this.seen.delete(key)
    if (note.key !== undefined) {
      if (this.seen.has(note.key)) {
        const twin = this.entries.find((e) => e.note.key === note.key)
        return twin?.toast ?? twin?.item ?? h('li')
      }
      this.seen.set(note.key, now)
    }
    const sticky = note.sticky ?? (note.urgent === true || note.kind === 'error' || (note.actions ?? []).length > 0)
    const entry: Entry = {
      note: { ...note, sticky },
      at: now,
      read: false,
      done: false,
      toast: null,
      item: h('li'),
      remaining: TOAST_MS,
      started: null,
      timer: undefined,
    }
    entry.toast = this.toast(entry)
    this.paintItem(entry)
    this.entries.unshift(entry)
    this.history.prepend(entry.item)
    while (this.entries.length > HISTORY) {
      const old = this.entries.pop()
      if (old !== undefined) this.retire(old)
    }
    this.stack.prepend(entry.toast)
    this.announce(note)
    this.layout()
    return entry.toast
  }

  private toast(entry: Entry): HTMLElement {
    const { note } = entry
    const toast = h('li', {
      class: `note note-${note.kind}${note.urgent ? ' note-urgent' : ''}`,
      'data-kind': note.kind,
      'data-sticky': note.sticky ? 'true' : 'false',
    })
    toast.append(h('p', { class: 'note-title' }, note.title))
    if (note.body) toast.append(h('p', { class: 'note-body' }, note.body))
    const buttons = this.actions(entry)
    const dismiss = tx(h('button', { type: 'button' }), 'dismiss')
    dismiss.addEventListener('click', () => this.finish(entry, true))
    buttons.append(dismiss)
    toast.append(buttons)
    return toast
  }

  /** The action buttons of a notification (in its toast and in the list). */
  private actions(entry: Entry): HTMLElement {
    const buttons = h('div', { class: 'note-actions' })
    for (const action of entry.note.actions ?? []) {
      const button = h('button', { type: 'button' }, action.label)
      button.addEventListener('click', async () => {
        button.disabled = true
        try {
          await action.run()
          this.finish(entry, true)
        } catch (err) {
          button.disabled = false
          this.show({ kind: 'error', title: t('action_failed', { message: (err as Error).message }) })
        }
      })
      buttons.append(button)
    }
    return buttons
  }

  private paintItem(entry: Entry): void {
    const { note } = entry
    const item = entry.item
    item.className = `note-entry entry-${note.kind}${entry.read ? '' : ' unread'}`
    item.dataset.kind = note.kind
    item.replaceChildren(
      h('p', { class: 'note-title' }, entry.read ? '' : h('span', { class: 'sr-only' }, `${t('notes_unread')} `), note.title),
      note.body ? h('p', { class: 'note-body' }, note.body) : '',
      h('p', { class: 'muted note-time' }, when(entry.at / 1000, lang())),
    )
    if (!entry.done && (note.actions ?? []).length > 0) item.append(this.actions(entry))
  }

  /** Acted on or dismissed: the toast goes, the list keeps it without its actions. */
  private finish(entry: Entry, read: boolean): void {
    entry.done = true
    if (read) entry.read = true
    this.dropToast(entry)
    this.paintItem(entry)
    this.layout()
  }

  private dropToast(entry: Entry): void {
    window.clearTimeout(entry.timer)
    entry.started = null
    entry.toast?.remove()
    entry.toast = null
  }

  private retire(entry: Entry): void {
    this.dropToast(entry)
    entry.item.remove()
  }

  /** Show the newest few toasts, count the rest behind "N more", run the timers of those shown. */
  private layout(): void {
    const max = window.matchMedia(PHONE).matches ? 1 : 3
    let shown = 0
    let hidden = 0
    // Important ones first (newest first among them), then the newest informational ones.
    const order = [...this.entries.filter((e) => e.note.sticky), ...this.entries.filter((e) => !e.note.sticky)]
    for (const entry of order) {
      if (entry.toast === null) continue
      const visible = shown < max
      entry.toast.hidden = !visible
      if (visible) shown++
      else hidden++
      if (visible && !entry.note.sticky && !this.paused && entry.started === null) this.run(entry)
      if (!visible && entry.started !== null) this.stop(entry)
    }
    this.element.classList.toggle('has-toasts', shown > 0)
    this.more.hidden = hidden === 0
    this.more.dataset.count = String(hidden)
    this.more.textContent = t('notes_more', { n: hidden })
    this.paintCount()
  }

  private run(entry: Entry): void {
    entry.started = Date.now()
    entry.timer = window.setTimeout(() => {
      entry.started = null
      this.dropToast(entry)
      this.layout()
    }, entry.remaining)
  }

  private stop(entry: Entry): void {
    window.clearTimeout(entry.timer)
    if (entry.started !== null) entry.remaining = Math.max(1_000, entry.remaining - (Date.now() - entry.started))
    entry.started = null
  }

  /** Pointer or focus on the stack: informational toasts wait. */
  private pause(paused: boolean): void {
    if (paused === this.paused) return
    this.paused = paused
    this.element.dataset.paused = String(paused)
    if (paused) for (const entry of this.entries) this.stop(entry)
    else this.layout()
  }

  private announce(note: Note): void {
    const text = note.body ? `${note.title}. ${note.body}` : note.title
    if (note.urgent) {
      this.assertive.textContent = text
      return
    }
    this.polite.append(h('p', {}, text))
    while (this.polite.children.length > ANNOUNCED) this.polite.firstElementChild?.remove()
  }

  /** Open or close the list; opening marks everything read. */
  private open(show: boolean, refocus = false): void {
    this.center.hidden = !show
    this.button.setAttribute('aria-expanded', String(show))
    this.more.setAttribute('aria-expanded', String(show))
    if (show) {
      this.center.querySelector<HTMLElement>('h2')?.setAttribute('tabindex', '-1')
      this.center.querySelector<HTMLElement>('h2')?.focus()
      this.markRead()
    } else if (refocus) {
      this.button.focus()
    }
  }

  private markRead(): void {
    for (const entry of this.entries) {
      if (entry.read) continue
      entry.read = true
      this.paintItem(entry)
    }
    this.paintCount()
  }

  private clear(): void {
    for (const entry of this.entries.splice(0)) this.retire(entry)
    this.layout()
  }

  private paintCount(): void {
    const unread = this.entries.filter((e) => !e.read).length
    this.badge.textContent = String(unread)
    this.badge.hidden = unread === 0
    this.button.dataset.unread = String(unread)
    this.button.setAttribute('aria-label', unread > 0 ? t('notes_bell_unread', { n: unread }) : t('notes_bell'))
    this.center.classList.toggle('empty', this.entries.length === 0)
  }
}

/** A bell drawn in SVG (no emoji font needed); decorative, the button has a label. */
function bellIcon(): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg'
  const svg = document.createElementNS(ns, 'svg')
  svg.setAttribute('viewBox', '0 0 24 24')
  svg.setAttribute('width', '18')
  svg.setAttribute('height', '18')
  svg.setAttribute('aria-hidden', 'true')
  svg.setAttribute('focusable', 'false')
  const path = document.createElementNS(ns, 'path')
  path.setAttribute('d', 'M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1z')
  path.setAttribute('fill', 'currentColor')
  svg.append(path)
  return svg
}

/** A stable identity for a live event: its type and its data (the same publication heard on several channels). */
export function eventKey(event: string, data: unknown): string {
  return `${event}|${stableJson(data)}`
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}
