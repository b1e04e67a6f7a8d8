/**
 * A planning session: its drafts, the collaborative editor of one draft,
 * who is here (presence on `room:{session}` and the draft's awareness), and
 * the workflow panels (review and versions, topic board, dispatch).
 */

import type { App, View } from '../app'
import { ApiError, get, itemsOf, optional, post, token } from '../api'
import { wsOrigin } from '../app'
import { unitColor } from '../colors'
import { append, fill, h } from '../dom'
import { DraftEditor, localCopyName } from '../draft'
import { onLangChange, roles, t, tx } from '../i18n'
import type { PresenceFrame } from '../live'
import type { Draft, PresenceUser, Session } from '../types'
import { list, panel } from './panel'
import { dispatchPanel } from './dispatch'
import { topicBoard } from './topics'
import { reviewPanel } from './review'

const IDLE_AFTER_MS = 60_000
const DRAFT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/
const FALLBACK_DRAFT = 'main'

export function sessionView(app: App, sessionId: string, draftName: string | null): View {
  const me = app.me!
  const room = `room:${sessionId}`
  const cleanups: (() => void)[] = []
  const title = h('h1', {}, sessionId)
  const back = tx(h('a', { href: '#/', class: 'back' }), 'back_home')
  const editorHost = h('div', { class: 'editor-host' })
  const drafts = panel('drafts', 'drafts_title')
  const presence = panel('presence', 'presence_title')
  const layout = h(
    'div',
    { class: 'session' },
    h('div', { class: 'side' }, drafts.section, presence.section),
    h('div', { class: 'center' }, editorHost),
  )
  const workflow = h('div', { class: 'workflow' })
  app.main.append(h('div', { class: 'session-head' }, back, title), layout, workflow)
  cleanups.push(drafts.destroy, presence.destroy)

  void loadTitle(app, sessionId).then((session) => {
    if (session !== null) title.textContent = session.title
    const board = topicBoard(app, sessionId)
    const dispatch = dispatchPanel(app, sessionId, session?.member_units ?? [])
    workflow.append(board.section, dispatch.section)
    cleanups.push(board.destroy, dispatch.destroy)
  })

  // -- drafts ---------------------------------------------------------------------

  let editor: DraftEditor | null = null
  const titles = new Map<string, string>() // draft name → title, for the presence list
  let current: Draft | null = null
  const review = draftName === null ? null : reviewPanel(app, sessionId, draftName)
  if (review !== null) workflow.prepend(review.section)
  const loadDrafts = async (): Promise<void> => {
    const value = await drafts.load<unknown>(
      `/api/sessions/${encodeURIComponent(sessionId)}/drafts`,
      (v) => draftList(app, sessionId, itemsOf<Draft>(v, 'drafts'), draftName),
      async () => openByName(app, sessionId),
    )
    const found = value === null ? null : itemsOf<Draft>(value, 'drafts')
    for (const d of found ?? []) titles.set(d.name, d.title)
    paintPresence()
    if (draftName === null) {
      const first = found === null ? FALLBACK_DRAFT : found[0]?.name
      if (first !== undefined) location.replace(`#/s/${encodeURIComponent(sessionId)}/${encodeURIComponent(first)}`)
      else fill(editorHost, tx(h('p', { class: 'muted' }), 'editor_pick'))
      return
    }
    current = found?.find((d) => d.name === draftName) ?? { session: sessionId, name: draftName, title: draftName }
    if (editor === null) openEditor(current)
  }
  void loadDrafts()

  const openEditor = (draft: Draft): void => {
    if (!DRAFT_NAME.test(draft.name)) return
    const mount = h('div', { class: 'editor', 'data-draft': draft.name })
    const toolbarHost = h('div', { class: 'toolbar', role: 'toolbar' })
    tx(toolbarHost, 'toolbar', 'aria-label')
    const heading = h('h2', { class: 'draft-title' }, draft.title)
    const readonlyNote = me.may_edit ? null : tx(h('p', { class: 'muted' }), 'editor_readonly')
    fill(editorHost, heading, readonlyNote ?? '', toolbarHost, mount)
    editor = new DraftEditor(
      `${wsOrigin()}/yjs`,
      sessionId,
      draft.name,
      token() ?? '',
      { id: me.id, name: me.name, unit: me.unit, unitName: app.unitName(me.unit) },
      mount,
      me.may_edit,
      t('editor_label', { title: draft.title }),
      localCopyName(me.id, sessionId, draft.name),
    )
    const ed = editor
    const stopState = ed.onChange((state) => app.setDraft(state))
    app.setDraft(ed.state(), { pause: () => ed.pause(), resume: () => ed.resume() })
    if (!navigator.onLine) ed.pause()
    toolbar(toolbarHost, ed, me.may_edit)
    ed.provider.awareness.on('change', () => paintPresence())
    cleanups.push(stopState)
  }

  // -- presence -------------------------------------------------------------------

  const users = new Map<string, PresenceUser>()
  let activity: 'active' | 'idle' = 'active'
  let summary: PresenceFrame['summary'] | null = null
  const paintPresence = (): void => {
    const shown = new Map(users)
    // People in this draft seen through its awareness but not (yet) through /live.
    for (const [clientId, state] of editor?.provider.awareness.getStates() ?? []) {
      const user = (state as { user?: { id?: string; name?: string; unit?: string; activity?: string } }).user
      if (!user?.id || shown.has(user.id) || clientId === editor?.doc.clientID) continue
      const activity = user.activity === 'idle' ? 'idle' : 'active'
      shown.set(user.id, {
        name: user.name ?? user.id,
        unit: user.unit ?? '',
        roles: [],
        state: activity,
        sessions: [{ id: String(clientId), draft: draftName, state: activity }],
      })
    }
    if (!shown.has(me.id)) {
      shown.set(me.id, { name: me.name, unit: me.unit, roles: me.roles, state: activity, sessions: [{ id: '', draft: draftName, state: activity }] })
    }
    const people = [...shown.entries()].sort((a, b) => a[1].name.localeCompare(b[1].name, 'zh-CN'))
    const items = list(people, ([id, user]) => presenceRow(app, id, user, id === me.id, titles), t('presence_title'))
    fill(presence.body, summary ? h('p', {}, t('presence_summary', summary)) : '', items ?? '')
  }
  cleanups.push(
    app.live.on('presence', (frame) => {
      if (frame.channel !== room) return
      if (frame.mode === 'summary') {
        summary = frame.summary ?? null
      } else {
        summary = null
        if (frame.mode === 'snapshot') users.clear()
        for (const [id, user] of Object.entries(frame.users ?? {})) {
          if (user === null) users.delete(id)
          else users.set(id, user as PresenceUser)
        }
      }
      paintPresence()
    }),
    onLangChange(paintPresence),
  )
  app.live.subscribe(room, true)
  cleanups.push(() => app.live.unsubscribe(room))

  // -- activity: active while the person uses the page, idle after a minute without ----

  let idleTimer = 0
  const setActivity = (next: 'active' | 'idle'): void => {
    if (next !== activity) {
      activity = next
      editor?.provider.awareness.setLocalStateField('user', { ...editor.provider.awareness.getLocalState()?.user, activity })
      paintPresence()
    }
    app.live.setPresence(room, draftName, activity)
  }
  const touched = (): void => {
    window.clearTimeout(idleTimer)
    idleTimer = window.setTimeout(() => setActivity('idle'), IDLE_AFTER_MS)
    if (activity !== 'active') setActivity('active')
  }
  const visibility = (): void => (document.hidden ? setActivity('idle') : touched())
  for (const type of ['keydown', 'pointerdown']) window.addEventListener(type, touched, { passive: true })
  document.addEventListener('visibilitychange', visibility)
  app.live.setPresence(room, draftName, 'active')
  touched()
  cleanups.push(() => {
    window.clearTimeout(idleTimer)
    for (const type of ['keydown', 'pointerdown']) window.removeEventListener(type, touched)
    document.removeEventListener('visibilitychange', visibility)
  })

  // -- room events: drafts and review states change under us -------------------------

  cleanups.push(
    app.live.on('event', (e) => {
      if (e.channel === room && (e.event.startsWith('draft.') || e.event.startsWith('review.'))) void loadDrafts()
    }),
    app.live.on('reload', (channel) => {
      if (channel === room) void loadDrafts()
    }),
  )

  return () => {
    for (const fn of cleanups) fn()
    review?.destroy()
    app.setDraft(null)
    editor?.destroy()
  }
}

async function loadTitle(app: App, sessionId: string): Promise<Session | null> {
  try {
    const value = await optional<Session | { session: Session }>(`/api/sessions/${encodeURIComponent(sessionId)}`)
    if (value !== null) return 'session' in value ? value.session : value
    const room = await get<{ room: Session }>(`/api/rooms/${encodeURIComponent(sessionId)}`)
    return room.room
  } catch (err) {
    if (err instanceof ApiError) app.notes.show({ kind: 'error', title: t('failed', { message: err.message }) })
    return null
  }
}

function draftList(app: App, sessionId: string, drafts: Draft[], open: string | null): HTMLElement {
  const out = h('div', {})
  append(
    out,
    list(drafts, (d) => {
      const link = h(
        'a',
        { href: `#/s/${encodeURIComponent(sessionId)}/${encodeURIComponent(d.name)}`, 'aria-current': d.name === open ? 'page' : null },
        d.title,
      )
      return h('div', { class: 'row' }, link, d.lead_unit ? app.unitBadge(d.lead_unit) : '')
    }) ?? tx(h('p', { class: 'muted' }), 'empty'),
    newDraftForm(app, sessionId),
  )
  return out
}

function newDraftForm(app: App, sessionId: string): HTMLElement {
  const input = h('input', { id: 'new-draft-title', required: true, maxlength: 200 })
  const form = h(
    'form',
    { class: 'inline' },
    tx(h('label', { for: 'new-draft-title' }), 'draft_title_label'),
    input,
    tx(h('button', { type: 'submit' }), 'draft_create'),
  )
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    try {
      const draft = await post<Draft>(`/api/sessions/${encodeURIComponent(sessionId)}/drafts`, {
        title: input.value.trim(),
        lead_unit: app.me!.unit,
      })
      location.hash = `#/s/${encodeURIComponent(sessionId)}/${encodeURIComponent(draft.name)}`
    } catch (err) {
      app.notes.show({ kind: 'error', title: t('action_failed', { message: (err as Error).message }) })
    }
  })
  return h('details', {}, tx(h('summary', {}), 'draft_new'), form)
}

/** Without the drafts API: open any draft of the session by its name. */
async function openByName(_app: App, sessionId: string): Promise<Node> {
  const input = h('input', { id: 'draft-name', pattern: DRAFT_NAME.source.slice(1, -1), required: true, value: FALLBACK_DRAFT })
  const form = h(
    'form',
    { class: 'inline' },
    tx(h('label', { for: 'draft-name' }), 'draft_name'),
    input,
    tx(h('button', { type: 'submit' }), 'draft_open'),
  )
  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    location.hash = `#/s/${encodeURIComponent(sessionId)}/${encodeURIComponent(input.value)}`
  })
  return h('div', {}, tx(h('p', { class: 'muted', 'data-state': 'absent' }), 'drafts_fallback'), form)
}

function presenceRow(app: App, id: string, user: PresenceUser, isMe: boolean, titles: Map<string, string>): HTMLElement {
  const names = user.sessions.map((s) => s.draft).filter((d): d is string => d !== null)
  const drafts = [...new Set(names)].map((d) => titles.get(d) ?? d)
  return h(
    'div',
    { class: `row presence-${user.state}`, 'data-user': id, 'data-state': user.state },
    h('span', { class: 'dot', style: `background:${unitColor(user.unit)}`, 'aria-hidden': 'true' }),
    h('span', { class: 'name' }, user.name, isMe ? ` ${t('presence_you')}` : ''),
    user.unit ? app.unitBadge(user.unit) : '',
    user.roles.length > 0 ? h('span', { class: 'roles muted' }, roles(user.roles)) : '',
    h('span', { class: 'muted' }, drafts.map((d) => t('presence_in', { draft: d })).join(', ')),
    h('span', { class: `activity ${user.state}` }, t(user.state === 'idle' ? 'presence_idle' : 'presence_active')),
  )
}

function toolbar(host: HTMLElement, draft: DraftEditor, editable: boolean): void {
  const ed = draft.editor
  const buttons: [Parameters<typeof t>[0], string, () => boolean, () => boolean][] = [
    ['tool_bold', 'B', () => ed.chain().focus().toggleBold().run(), () => ed.isActive('bold')],
    ['tool_italic', 'I', () => ed.chain().focus().toggleItalic().run(), () => ed.isActive('italic')],
    ['tool_heading', 'H', () => ed.chain().focus().toggleHeading({ level: 2 }).run(), () => ed.isActive('heading')],
    ['tool_list', '•', () => ed.chain().focus().toggleBulletList().run(), () => ed.isActive('bulletList')],
    ['tool_undo', '↶', () => ed.chain().focus().undo().run(), () => false],
    ['tool_redo', '↷', () => ed.chain().focus().redo().run(), () => false],
  ]
  const refresh: (() => void)[] = []
  for (const [key, glyph, run, active] of buttons) {
    const button = h('button', { type: 'button', class: 'tool', disabled: !editable }, h('span', { 'aria-hidden': 'true' }, glyph))
    tx(button, key, 'aria-label')
    tx(button, key, 'title')
    button.addEventListener('click', () => void run())
    const toggles = key !== 'tool_undo' && key !== 'tool_redo'
    if (toggles) refresh.push(() => button.setAttribute('aria-pressed', String(active())))
    host.append(button)
  }
  const paint = (): void => refresh.forEach((fn) => fn())
  ed.on('selectionUpdate', paint)
  ed.on('transaction', paint)
  paint()
}
