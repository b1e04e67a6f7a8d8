/**
 * One open draft: a Y.Doc kept in memory and in this browser's IndexedDB
 * (y-indexeddb), the y-websocket provider on WS /yjs/{session}/{draft}, and a
 * Tiptap editor bound to the XmlFragment "default" with labelled carets in
 * each unit's colour.
 *
 * The IndexedDB copy is why an edit typed offline survives closing the tab:
 * the document is loaded from it before the provider connects, so the sync
 * handshake sends the hub whatever it lacks. The pending count is kept there
 * too (key `pending`), so a reopened tab still says how many edits wait.
 *
 * Pending edits: the provider connects with `?stored=1`; the hub answers
 * message type 100 with how many of this socket's sync updates are stored
 * (schema/WIRE.md). We count the updates each socket sends and which local
 * change each one covered, so "N local edits pending" is exact: a local
 * change stops pending only once the hub has stored it.
 */

import { Editor } from '@tiptap/core'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import StarterKit from '@tiptap/starter-kit'
import * as decoding from 'lib0/decoding'
import { IndexeddbPersistence } from 'y-indexeddb'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'

import { NO_RECONNECT } from './closecodes'
import { unitColor } from './colors'

export type DraftStatus = 'connecting' | 'connected' | 'disconnected'

export interface Collaborator {
  id: string
  name: string
  unit: string
  unitName: string
}

export interface DraftState {
  status: DraftStatus
  synced: boolean
  pending: number
  closed: number | null // a close code after which the provider gave up
  kept: number | null // pending edits known written to this browser's copy (null: no copy)
  copy: string // the name of this browser's copy (IndexedDB)
}

const MESSAGE_SYNC = 0
const MESSAGE_STORED = 100
const PENDING_KEY = 'pending'
/** How long the local copy may take to load before the provider connects without it. */
const LOCAL_LOAD_MS = 5_000

/** The IndexedDB name of a draft's copy: per user, so people sharing a browser keep theirs apart. */
export function localCopyName(user: string, session: string, draft: string): string {
  return `tongpin/${user}/${session}/${draft}`
}

/** Whether a message the provider sends is a sync step 2 or update (what the hub counts). */
function isSyncUpdate(data: unknown): boolean {
  const bytes = data instanceof Uint8Array ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : null
  return bytes !== null && bytes.length > 1 && bytes[0] === MESSAGE_SYNC && (bytes[1] === 1 || bytes[1] === 2)
}

class StoreTracker {
  local = 0 // local changes made so far
  confirmed = 0 // local changes known stored
  private sent = 0 // sync updates sent on the current socket
  private covers: [number, number][] = [] // (sent index, local changes it covers)

  newSocket(): void {
    this.sent = 0
    this.covers = []
  }

  sending(): void {
    this.sent++
    this.covers.push([this.sent, this.local])
  }

  stored(count: number): void {
    while (this.covers.length > 0 && this.covers[0][0] <= count) {
      this.confirmed = Math.max(this.confirmed, this.covers[0][1])
      this.covers.shift()
    }
  }

  get pending(): number {
    return this.local - this.confirmed
  }
}

/** A WebSocket class that tells `tracker` about each socket and each sync update it sends. */
function trackingSocket(tracker: StoreTracker): typeof WebSocket {
  return class TrackingSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols)
      tracker.newSocket()
    }

    send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      if (isSyncUpdate(data)) tracker.sending()
      super.send(data)
    }
  }
}

export class DraftEditor {
  readonly doc = new Y.Doc()
  readonly provider: WebsocketProvider
  readonly editor: Editor
  private readonly tracker = new StoreTracker()
  private closed: number | null = null
  private readonly listeners = new Set<(s: DraftState) => void>()
  private local: IndexeddbPersistence | null = null
  private loaded = false // the local copy is loaded (or there is none): the provider may connect
  private wanted = true // online, as far as the page knows
  private kept: number | null = null
  private keeping: number | null = null // the pending count last written to the copy
  private destroyed = false

  constructor(
    wsBase: string,
    readonly session: string,
    readonly draft: string,
    token: string,
    me: Collaborator,
    element: HTMLElement,
    editable: boolean,
    label: string,
    readonly localName: string,
  ) {
    // Registered before the provider's own listener, so a change is counted before it is sent.
    this.doc.on('update', (_update: Uint8Array, origin: unknown) => {
      const fromCopy = this.local !== null && origin === this.local
      if (origin !== this.provider && !fromCopy) {
        this.tracker.local++
        this.changed()
      }
    })
    this.provider = new WebsocketProvider(wsBase, `${session}/${draft}`, this.doc, {
      params: { token, stored: '1' },
      connect: false, // after the local copy is loaded, so the handshake carries it
      disableBc: true, // other tabs sync through the hub, so the status shown is the hub's
      WebSocketPolyfill: trackingSocket(this.tracker),
      shouldReconnect: (event: CloseEvent) => !NO_RECONNECT.has(event.code),
    })
    this.provider.messageHandlers[MESSAGE_STORED] = (_encoder, decoder: decoding.Decoder) => {
      this.tracker.stored(decoding.readVarUint(decoder))
      this.changed()
    }
    this.provider.on('status', () => this.changed())
    this.provider.on('sync', () => this.changed())
    this.provider.on('closed', (event: { code: number }) => {
      this.closed = event.code
      this.changed()
    })
    const user = { ...me, color: unitColor(me.unit) }
    this.editor = new Editor({
      element,
      editable,
      extensions: [
        StarterKit.configure({ undoRedo: false }), // Yjs has its own undo, per user
        Collaboration.configure({ document: this.doc, field: 'default' }),
        CollaborationCaret.configure({ provider: this.provider, user, render: renderCaret }),
      ],
      editorProps: { attributes: { 'aria-label': label, 'aria-multiline': 'true', role: 'textbox' } },
    })
    void this.loadLocal(localName)
  }

  /** Load the browser's copy and its pending count, then connect (also when there is no copy). */
  private async loadLocal(name: string): Promise<void> {
    try {
      const local = new IndexeddbPersistence(name, this.doc)
      this.local = local
      const stored = await Promise.race([
        local.whenSynced.then(() => local.get(PENDING_KEY)),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('IndexedDB is slow')), LOCAL_LOAD_MS)),
      ])
      const pending = typeof stored === 'number' && stored > 0 ? stored : 0
      // Restored edits stay pending until the hub stores the handshake that carries them.
      this.tracker.local += pending
      this.keeping = pending
      this.kept = pending
    } catch {
      // No IndexedDB (a private window, a blocked database): edits live in memory only.
      void this.local?.destroy()
      this.local = null
      this.kept = null
    }
    if (this.destroyed) return
    this.loaded = true
    if (this.wanted) this.provider.connect()
    this.changed()
  }

  /** Write the pending count to the copy, after the updates it counts (the transaction spans both stores). */
  private keep(): void {
    const db = this.local?.db
    const pending = this.tracker.pending
    if (!this.loaded || db == null || pending === this.keeping) return
    this.keeping = pending
    const tx = db.transaction(['updates', 'custom'], 'readwrite')
    tx.objectStore('custom').put(pending, PENDING_KEY)
    tx.oncomplete = () => {
      this.kept = pending
      this.changed()
    }
  }

  onChange(fn: (s: DraftState) => void): () => void {
    this.listeners.add(fn)
    fn(this.state())
    return () => this.listeners.delete(fn)
  }

  state(): DraftState {
    const p = this.provider
    const status: DraftStatus = p.wsconnected ? 'connected' : p.wsconnecting ? 'connecting' : 'disconnected'
    const kept = this.kept === null ? null : Math.min(this.kept, this.tracker.pending)
    return { status, synced: p.synced, pending: this.tracker.pending, closed: this.closed, kept, copy: this.localName }
  }

  /** Going offline: stop trying; edits stay in the Y.Doc (and the local copy) and sync on `resume`. */
  pause(): void {
    this.wanted = false
    this.provider.disconnect()
  }

  resume(): void {
    this.wanted = true
    this.closed = null
    if (this.loaded) this.provider.connect()
  }

  destroy(): void {
    this.destroyed = true
    void this.local?.destroy()
    this.editor.destroy()
    this.provider.destroy()
    this.doc.destroy()
    this.listeners.clear()
  }

  private changed(): void {
    this.keep()
    const state = this.state()
    for (const fn of this.listeners) fn(state)
  }
}

/** A caret: a coloured bar with the person's name and unit. */
function renderCaret(user: Record<string, string>): HTMLElement {
  const caret = document.createElement('span')
  caret.className = 'caret'
  caret.style.borderColor = user.color
  caret.dataset.user = user.id ?? ''
  caret.setAttribute('aria-hidden', 'true') // the presence list says who is here; text is not interrupted
  const label = document.createElement('span')
  label.className = 'caret-label'
  label.style.backgroundColor = user.color
  label.textContent = user.unitName ? `${user.name} · ${user.unitName}` : user.name
  caret.append(label)
  return caret
}
