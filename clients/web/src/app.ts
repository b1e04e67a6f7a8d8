/**
 * The application shell: who is signed in, the /live connection, the
 * connection indicator, notifications, and the hash routes
 * (`#/`, `#/s/{session}`, `#/s/{session}/{draft}`, `#/stats`, `#/monitor`).
 */

import { ApiError, get, post, setToken, token, whenUnauthorized } from './api'
import { unitColor } from './colors'
import { h } from './dom'
import type { DraftState } from './draft'
import { lang, onLangChange, roles, setLang, status, t, tx } from './i18n'
import { Live, type LiveEvent } from './live'
import { forgetCopies, localCopies } from './localcopies'
import { eventKey, Notifications } from './notify'
import type { Receipt, Task, Unit, User } from './types'
import { homeView } from './views/home'
import { monitorView } from './views/monitor'
import { sessionView } from './views/session'
import { requestSignOut } from './views/signout'
import { signinView } from './views/signin'
import { statsView } from './views/stats'

export type View = () => void // a mounted view's clean-up

/** Roles that may subscribe to the city-wide `alerts` and to `duty` (rooms/channels.py). */
const CITY_ALERT_ROLES = ['commander', 'monitor', 'chief_editor', 'duty_editor']
const DUTY_ROLES = ['duty_editor', 'chief_editor', 'commander']
/** Events that only refresh what is on screen (the lists listen for them), without a notification. */
const QUIET = ['task.', 'duty.rotation', 'session.', 'draft.']
/** The signed-in user and the unit directory, kept with the token (per tab) for a start while the hub is unreachable. */
const PROFILE_KEY = 'tongpin.profile'

export class App {
  me: User | null = null
  units = new Map<string, Unit>()
  readonly live = new Live(() => `${wsOrigin()}/live?token=${encodeURIComponent(token() ?? '')}`)
  readonly notes = new Notifications()
  readonly main: HTMLElement
  private readonly indicator: HTMLElement
  private readonly userBox: HTMLElement
  private readonly nav: HTMLElement
  private draft: DraftState | null = null
  private draftControl: { pause(): void; resume(): void } | null = null
  private readonly draftListeners = new Set<(state: DraftState | null) => void>()
  private view: View | null = null

  constructor(private readonly root: HTMLElement) {
    this.main = h('main', { id: 'main', tabindex: '-1' })
    this.indicator = h('p', { class: 'conn', role: 'status', 'data-state': 'offline' })
    this.userBox = h('div', { class: 'who' })
    const langButton = tx(h('button', { type: 'button', class: 'lang', lang: 'en' }), 'switch_lang')
    tx(langButton, 'switch_lang_label', 'aria-label')
    langButton.addEventListener('click', () => setLang(lang() === 'en' ? 'zh-CN' : 'en'))
    const brand = h('a', { href: '#/', class: 'brand' }, h('span', { 'aria-hidden': 'true' }, '同频'))
    tx(brand, 'home', 'aria-label')
    this.nav = h('nav', { class: 'nav' })
    tx(this.nav, 'nav_label', 'aria-label')
    const header = h('header', { class: 'top' }, brand, this.nav, this.indicator, this.userBox, this.notes.bell, langButton)
    this.root.append(header, this.main, this.notes.element)

    // The skip link must not change the hash: the hash is the route.
    document.querySelector('.skip-link')?.addEventListener('click', (ev) => {
      ev.preventDefault()
      this.main.focus()
    })
    whenUnauthorized(() => void this.signOut(true))
    this.live.on('state', () => this.paint())
    this.live.on('channels', (active) => (this.indicator.dataset.channels = [...active].sort().join(' ')))
    this.live.on('signout', () => void this.signOut(true))
    this.live.on('event', (e) => this.notify(e))
    onLangChange(() => {
      this.paint()
      this.paintUser()
    })
    window.addEventListener('offline', () => {
      this.live.stop()
      this.draftControl?.pause()
      this.paint()
    })
    window.addEventListener('online', () => {
      if (this.me !== null) this.live.start()
      this.draftControl?.resume()
      this.paint()
    })
    window.addEventListener('hashchange', () => void this.route())
  }

  async start(): Promise<void> {
    if (token() !== null) {
      try {
        await this.signedIn()
      } catch (err) {
        // 401: signed out; 0: the hub is unreachable and this tab has no saved profile (the sign-in page says so).
        if (!(err instanceof ApiError) || (err.status !== 401 && err.status !== 0)) throw err
      }
    }
    await this.route()
  }

  /** After a token is stored: load the caller and subscribe to their channels. */
  async signedIn(): Promise<void> {
    let profile: { user: User; units: Unit[] }
    try {
      const answer = await get<{ user: User }>('/api/me')
      const units = await get<{ units: Unit[] }>('/api/units')
      profile = { user: answer.user, units: units.units }
      sessionStorage.setItem(PROFILE_KEY, JSON.stringify(profile))
    } catch (err) {
      // Reloaded while the hub is unreachable (the page came from the service worker): carry on as who we were,
      // so the drafts kept in this browser open; the hub checks the token again when it is back.
      const saved = sessionStorage.getItem(PROFILE_KEY)
      if (!(err instanceof ApiError) || err.status !== 0 || saved === null) throw err
      profile = JSON.parse(saved) as { user: User; units: Unit[] }
    }
    this.me = profile.user
    this.units = new Map(profile.units.map((u) => [u.code, u]))
    this.paintUser()
    const me = this.me
    this.live.subscribe(`user:${me.id}`)
    this.live.subscribe(`unit:${me.unit}`)
    this.live.subscribe(`alerts:${me.unit}`)
    this.live.subscribe('city') // duty handovers, for everyone signed in
    if (me.roles.some((r) => CITY_ALERT_ROLES.includes(r))) this.live.subscribe('alerts')
    if (me.roles.some((r) => DUTY_ROLES.includes(r))) this.live.subscribe('duty')
    if (navigator.onLine) this.live.start()
  }

  /**
   * Sign out, then delete this browser's copies of the user's drafts that
   * hold nothing the hub lacks (`forgetAll`: every copy, after they were
   * synced). Copies with pending edits stay, to be sent next time.
   */
  async signOut(expired = false, forgetAll = false): Promise<void> {
    const user = this.me?.id ?? null
    const open = this.draft
    setToken(null)
    sessionStorage.removeItem(PROFILE_KEY)
    this.me = null
    this.live.stop()
    this.paintUser()
    await this.go('#/') // closes the open draft, and with it its copy
    if (expired) this.notes.show({ kind: 'error', title: t('signin_expired') })
    if (user === null) return
    const copies = await localCopies(user)
    const clean = copies.filter((c) => forgetAll || (c.pending === 0 && !(open?.copy === c.name && open.pending > 0)))
    await forgetCopies(clean.map((c) => c.name))
    this.root.dataset.forgotten = String(clean.length)
    this.root.dataset.kept = String(copies.length - clean.length)
  }

  /** The open draft's connection state (null when none is open). */
  draftState(): DraftState | null {
    return this.draft
  }

  /** Follow the open draft's state (null: it closed). */
  onDraft(fn: (state: DraftState | null) => void): () => void {
    this.draftListeners.add(fn)
    return () => this.draftListeners.delete(fn)
  }

  /** Show `hash`, rendering it again if it is the current one. */
  async go(hash: string): Promise<void> {
    if (location.hash === hash || (hash === '#/' && location.hash === '')) await this.route()
    else location.hash = hash // the hashchange listener routes
  }

  unitName(code: string): string {
    const unit = this.units.get(code)
    if (unit === undefined) return code
    return lang() === 'en' ? unit.name_en : unit.name_zh
  }

  /** A unit's name on a badge in the unit's colour. */
  unitBadge(code: string): HTMLElement {
    return h('span', { class: 'unit', style: `--unit:${unitColor(code)}`, 'data-unit': code }, this.unitName(code))
  }

  /** The open draft reports its connection here (null when it closes). */
  setDraft(state: DraftState | null, control: { pause(): void; resume(): void } | null = null): void {
    this.draft = state
    if (control !== null || state === null) this.draftControl = control
    this.paint()
    for (const fn of this.draftListeners) fn(state)
  }

  private async route(): Promise<void> {
    this.view?.()
    this.view = null
    this.main.replaceChildren()
    if (this.me === null) {
      this.view = signinView(this)
      return
    }
    const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent)
    if (parts[0] === 's' && parts[1]) {
      this.view = sessionView(this, parts[1], parts[2] || null)
    } else if (parts[0] === 'stats') {
      this.view = statsView(this)
    } else if (parts[0] === 'monitor') {
      this.view = monitorView(this)
    } else {
      this.view = homeView(this)
    }
    const page = parts[0] === 'stats' || parts[0] === 'monitor' ? parts[0] : parts[0] === 's' ? null : 'home'
    for (const link of this.nav.querySelectorAll('a')) {
      if (link.dataset.page === page) link.setAttribute('aria-current', 'page')
      else link.removeAttribute('aria-current')
    }
    this.main.focus({ preventScroll: true })
  }

  private paintUser(): void {
    const me = this.me
    if (me === null) {
      this.userBox.replaceChildren()
      this.nav.replaceChildren()
      return
    }
    if (!this.nav.hasChildNodes()) {
      const links: [string, string, Parameters<typeof t>[0]][] = [
        ['home', '#/', 'nav_home'],
        ['stats', '#/stats', 'nav_stats'],
        ['monitor', '#/monitor', 'nav_monitor'],
      ]
      for (const [page, href, key] of links) this.nav.append(tx(h('a', { href, 'data-page': page }), key))
    }
    const out = tx(h('button', { type: 'button', class: 'quiet' }), 'sign_out')
    out.addEventListener('click', () => void requestSignOut(this))
    const roleNames = h('span', { class: 'roles muted', 'data-roles': me.roles.join(' ') }, roles(me.roles))
    this.userBox.replaceChildren(h('span', { class: 'me' }, me.name), this.unitBadge(me.unit), roleNames, out)
  }

  /** The connection indicator: the open draft's socket if any, else /live. */
  private paint(): void {
    let state: 'connected' | 'reconnecting' | 'offline'
    let text: string
    const pending = this.draft?.pending ?? 0
    if (!navigator.onLine) {
      state = 'offline'
      text = pending > 0 ? t('conn_offline_pending', { n: pending }) : t('conn_offline')
    } else if (this.draft?.closed != null) {
      state = 'offline'
      text = t('conn_closed', { code: this.draft.closed })
    } else if (this.draft !== null ? this.draft.status === 'connected' : this.live.state === 'connected') {
      state = 'connected'
      text = pending > 0 ? t('conn_saving', { n: pending }) : t('conn_connected')
    } else if (this.me === null && this.draft === null) {
      state = 'offline'
      text = t('conn_offline')
    } else {
      state = 'reconnecting'
      text = pending > 0 ? t('conn_reconnecting_pending', { n: pending }) : t('conn_reconnecting')
    }
    const kept = this.draft?.kept ?? null
    if (pending > 0 && kept === pending) text += ` ${t('conn_kept')}`
    this.indicator.dataset.state = state
    this.indicator.dataset.pending = String(pending)
    this.indicator.dataset.kept = kept === null ? '' : String(kept)
    this.indicator.textContent = text
  }

  // -- notifications from /live ---------------------------------------------------

  private notify(e: LiveEvent): void {
    const data = (e.data ?? {}) as Record<string, unknown>
    // One publication reaches several channels (a review step: the room's and the unit's): one notification.
    const key = eventKey(e.event, e.data)
    // My own step needs no notification: the page I took it on already shows it (the lists still reload).
    if (typeof data.actor === 'string' && data.actor === this.me?.id) return
    if (e.event === 'task.assigned') {
      this.taskAssigned(data, key)
    } else if (e.event === 'receipt.updated') {
      const task = (data.task ?? data) as Partial<Task>
      const receipt = (data.receipt ?? {}) as Partial<Receipt>
      const who = receipt.recipient ? this.recipientName(receipt.recipient) : ''
      this.notes.show({
        kind: 'receipt',
        key,
        title: t('task_receipt_updated', { who, status: statusWord(receipt.status), title: task.title ?? '' }),
      })
    } else if (e.event === 'task.escalated') {
      const task = (data.task ?? {}) as Partial<Task>
      this.notes.show({ kind: 'task', key, urgent: true, title: t('task_escalated', { title: task.title ?? '' }) })
    } else if (e.event === 'alert.new' || e.event === 'alert.escalated') {
      const alert = (data.alert ?? data) as { title?: string; severity?: string }
      const urgent = alert.severity === 'high' || alert.severity === 'critical'
      this.notes.show({ kind: 'alert', key, urgent, title: t('alert_new', { title: alert.title ?? '' }) })
    } else if (e.event.startsWith('alert.')) {
      // A step of an alert's lifecycle: said once, quietly.
      const alert = (data.alert ?? data) as { title?: string; status?: string }
      this.notes.show({ kind: 'alert-step', key, title: t('alert_changed', { title: alert.title ?? '', status: statusWord(alert.status) }) })
    } else if (e.event.startsWith('topic.')) {
      const topic = (data.topic ?? data) as { title?: string; status?: string }
      const word = topic.status ?? e.event.slice('topic.'.length)
      this.notes.show({ kind: 'topic', key, title: t('topic_changed', { title: topic.title ?? '', status: statusWord(word) }) })
    } else if (e.event === 'duty.handover') {
      const unit = (data.to ?? data.unit ?? (data.current as { unit?: string } | undefined)?.unit ?? '') as string
      this.notes.show({ kind: 'duty', key, title: t('duty_handover', { unit: this.unitName(unit) }) })
    } else if (e.event.startsWith('review.') || e.event === 'draft.published') {
      const title = typeof data.title === 'string' ? data.title : typeof data.draft === 'string' ? data.draft : ''
      const word = typeof data.status === 'string' ? statusWord(data.status) : e.event
      this.notes.show({ kind: 'review', key, title: t('review_event', { title, status: word }) })
    } else if (!QUIET.some((prefix) => e.event.startsWith(prefix))) {
      this.notes.show({ kind: 'event', key, title: t('event_generic', { event: e.event }) })
    }
  }

  private taskAssigned(data: Record<string, unknown>, key: string): void {
    const task = (data.task ?? data) as Partial<Task>
    const receipt = (data.receipt ?? null) as Receipt | null
    const deadline = typeof task.deadline_at === 'number' ? new Date(task.deadline_at * 1000) : null
    this.notes.show({
      kind: 'task',
      key,
      urgent: task.priority === 'urgent',
      title: t('task_new', { title: task.title ?? '' }),
      body: [task.body, deadline ? t('task_deadline', { time: deadline.toLocaleString(lang()) }) : '']
        .filter(Boolean)
        .join(' · '),
      actions: task.id
        ? [{ label: t('task_ack'), run: () => this.acknowledge(String(task.id), receipt?.id ?? null) }]
        : [],
    })
  }

  /** Acknowledge my receipt of a task (found on the task when the event did not name it). */
  async acknowledge(taskId: string, receiptId: string | null): Promise<void> {
    let rid = receiptId
    if (rid === null) {
      const answer = await get<Task | { task: Task }>(`/api/tasks/${encodeURIComponent(taskId)}`)
      const task = 'task' in answer ? answer.task : answer
      rid = this.myReceipt(task)?.id ?? null
      if (rid === null) throw new ApiError(404, 'not_found', 'no receipt of yours on this task')
    }
    await post(`/api/tasks/${encodeURIComponent(taskId)}/receipts/${encodeURIComponent(rid)}/acknowledge`)
    window.dispatchEvent(new CustomEvent('tongpin:refresh'))
  }

  myReceipt(task: Task): Receipt | undefined {
    const me = this.me
    if (me === null) return undefined
    if (task.receipt) return task.receipt
    return task.receipts?.find(
      (r) => r.status !== 'reassigned' && ('user' in r.recipient ? r.recipient.user === me.id : r.recipient.unit === me.unit),
    )
  }

  recipientName(recipient: Receipt['recipient']): string {
    return 'unit' in recipient ? this.unitName(recipient.unit) : recipient.user
  }
}

export function statusWord(value: string | undefined): string {
  return value ? status(value) : ''
}

export function wsOrigin(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`
}
