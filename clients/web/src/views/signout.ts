/**
 * Signing out on a shared computer. The drafts this browser keeps for the
 * user are deleted on sign-out when the hub has all their edits. When some
 * edits are not stored yet, a dialog says which drafts and offers: sync them
 * now and then sign out (the copies are deleted once the hub confirms
 * storing every edit), or keep the copies and sign out (they are sent the
 * next time the draft opens), or stay.
 */

import type { App } from '../app'
import { wsOrigin } from '../app'
import { token } from '../api'
import { h } from '../dom'
import { DraftEditor, type DraftState } from '../draft'
import { t, tx } from '../i18n'
import { type LocalCopy, localCopies } from '../localcopies'

/** How long syncing before sign-out may take before the dialog says it did not finish. */
const SYNC_MS = 20_000

export async function requestSignOut(app: App): Promise<void> {
  const me = app.me
  if (me === null) return
  const open = app.draftState()
  const copies = await localCopies(me.id)
  const pending = copies.filter((c) => c.pending > 0 || (open?.copy === c.name && open.pending > 0))
  if (pending.length === 0 && (open?.pending ?? 0) === 0) {
    await app.signOut()
    return
  }
  signOutDialog(app, pending)
}

function signOutDialog(app: App, pending: LocalCopy[]): void {
  const list = h('ul', { class: 'items', 'data-pending-copies': String(pending.length) })
  for (const copy of pending) {
    const n = copy.name === app.draftState()?.copy ? Math.max(copy.pending, app.draftState()?.pending ?? 0) : copy.pending
    list.append(h('li', { 'data-copy': copy.name }, t('signout_copy', { session: copy.session, draft: copy.draft, n })))
  }
  const progress = h('p', { role: 'status', class: 'muted', id: 'signout-progress' })
  const sync = tx(h('button', { type: 'button', class: 'primary', 'data-action': 'sync' }), 'signout_sync')
  const keep = tx(h('button', { type: 'button', 'data-action': 'keep' }), 'signout_keep')
  const stay = tx(h('button', { type: 'button', 'data-action': 'stay' }), 'cancel')
  sync.disabled = !navigator.onLine
  const dialog = h(
    'dialog',
    { class: 'signout', 'aria-labelledby': 'signout-heading', 'aria-describedby': 'signout-text' },
    tx(h('h2', { id: 'signout-heading' }), 'signout_pending_title'),
    tx(h('p', { id: 'signout-text' }), 'signout_pending_text'),
    list,
    navigator.onLine ? '' : tx(h('p', { class: 'muted' }), 'signout_offline'),
    progress,
    h('div', { class: 'actions' }, sync, keep, stay),
  )
  const close = (): void => {
    dialog.close()
    dialog.remove()
  }
  dialog.addEventListener('close', () => dialog.remove())
  stay.addEventListener('click', close)
  keep.addEventListener('click', () => {
    close()
    void app.signOut()
  })
  sync.addEventListener('click', async () => {
    for (const b of [sync, keep]) b.disabled = true
    progress.textContent = t('signout_syncing')
    const left = await syncAll(app, pending)
    if (left === 0) {
      close()
      await app.signOut(false, true)
      return
    }
    progress.textContent = t('signout_sync_failed', { n: left })
    sync.disabled = !navigator.onLine
    keep.disabled = false
  })
  document.body.append(dialog)
  dialog.showModal()
  sync.disabled ? keep.focus() : sync.focus()
}

/** Sync each copy with the hub (the open draft through its editor, others through a hidden one); how many did not finish. */
async function syncAll(app: App, copies: LocalCopy[]): Promise<number> {
  const results = await Promise.all(copies.map((copy) => syncOne(app, copy)))
  return results.filter((ok) => !ok).length
}

function done(state: DraftState): boolean {
  return state.status === 'connected' && state.synced && state.pending === 0
}

function syncOne(app: App, copy: LocalCopy): Promise<boolean> {
  const me = app.me
  if (me === null) return Promise.resolve(false)
  return new Promise((resolve) => {
    let stop: () => void = () => {}
    let finish = (ok: boolean): void => {
      finish = () => {}
      window.clearTimeout(timer)
      stop()
      resolve(ok)
    }
    const timer = window.setTimeout(() => finish(false), SYNC_MS)
    const open = app.draftState()
    if (open?.copy === copy.name) {
      const check = (state: DraftState | null): void => {
        if (state === null || done(state)) finish(state !== null)
      }
      stop = app.onDraft(check)
      check(open)
      return
    }
    // Not open: load the copy into an editor that is never shown; its handshake sends what the hub lacks.
    const editor = new DraftEditor(
      `${wsOrigin()}/yjs`,
      copy.session,
      copy.draft,
      token() ?? '',
      { id: me.id, name: me.name, unit: me.unit, unitName: app.unitName(me.unit) },
      h('div'),
      false,
      copy.draft,
      copy.name,
    )
    const unsubscribe = editor.onChange((state) => {
      if (done(state)) finish(true)
    })
    stop = () => {
      unsubscribe()
      editor.destroy()
    }
  })
}
