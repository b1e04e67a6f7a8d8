// A headless Tiptap editor with the unmodified collaboration extension on the
// unmodified `@hocuspocus/provider`, in Node: the DOM is happy-dom's.
//
// JSON lines in and out, as hpclient.mjs:
//   open {url, doc, token}        the editor (StarterKit, undo off: Collaboration brings its own)
//   type {text}                   insert at the end of the document, as typing would
//   paragraph {text}              a new paragraph with `text` at the end
//   report                        editor.getText() and the provider's state
//   wait {what, value?, timeout}  "synced", "text" (editor.getText() === value), "unsynced" (=== value)
//   exit
import readline from 'node:readline'
import { Window } from 'happy-dom'
import WebSocket from 'ws'

const window = new Window()
for (const name of ['window', 'document', 'navigator', 'Node', 'Element', 'HTMLElement', 'MutationObserver',
  'getComputedStyle', 'requestAnimationFrame', 'cancelAnimationFrame', 'DOMParser', 'Text', 'Range',
  'getSelection', 'DocumentFragment', 'KeyboardEvent', 'MouseEvent', 'Event', 'ClipboardEvent']) {
  if (!(name in globalThis) || name === 'window' || name === 'document' || name === 'navigator') {
    Object.defineProperty(globalThis, name, {
      value: typeof window[name] === 'function' && !/^[A-Z]/.test(name) ? window[name].bind(window) : window[name],
      configurable: true,
      writable: true
    })
  }
}

const Y = await import('yjs')
const { Editor } = await import('@tiptap/core')
const { default: StarterKit } = await import('@tiptap/starter-kit')
const { default: Collaboration } = await import('@tiptap/extension-collaboration')
const { HocuspocusProvider } = await import('@hocuspocus/provider')

let editor = null
let provider = null
const waiters = new Set()

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const report = () => ({
  text: editor !== null ? editor.getText() : null,
  html: editor !== null ? editor.getHTML() : null,
  synced: provider !== null && provider.synced,
  scope: provider !== null ? provider.authorizedScope ?? null : null,
  unsynced: provider !== null ? provider.unsyncedChanges : null
})

const conditions = {
  synced: () => provider !== null && provider.synced,
  text: (value) => editor !== null && editor.getText() === value,
  unsynced: (value) => provider !== null && provider.unsyncedChanges === value
}

const recheck = () => {
  for (const w of waiters) {
    if (w.test()) {
      waiters.delete(w)
      clearTimeout(w.timer)
      w.resolve(report())
    }
  }
}

const commands = {
  open ({ url, doc, token }) {
    const ydoc = new Y.Doc()
    provider = new HocuspocusProvider({
      url,
      name: doc,
      document: ydoc,
      token,
      WebSocketPolyfill: WebSocket,
      onSynced: recheck,
      onUnsyncedChanges: recheck,
      onAuthenticated: recheck
    })
    editor = new Editor({
      element: document.createElement('div'),
      extensions: [StarterKit.configure({ undoRedo: false }), Collaboration.configure({ document: ydoc })]
    })
    editor.on('update', recheck)
    ydoc.on('update', recheck)
    return report()
  },
  type ({ text }) {
    editor.chain().focus('end').insertContent(text).run()
    return report()
  },
  paragraph ({ text }) {
    const end = editor.state.doc.content.size
    editor.chain().insertContentAt(end, { type: 'paragraph', content: [{ type: 'text', text }] }).run()
    return report()
  },
  report,
  wait ({ what, value, timeout }) {
    const condition = conditions[what]
    if (condition === undefined) throw new Error(`unknown condition ${what}`)
    const test = () => condition(value)
    if (test()) return report()
    return new Promise((resolve, reject) => {
      const w = { test, resolve }
      w.timer = setTimeout(() => {
        waiters.delete(w)
        reject(new Error(`timed out after ${timeout}s waiting for ${what}=${JSON.stringify(value)}; ` +
          `state: ${JSON.stringify(report())}`))
      }, timeout * 1000)
      waiters.add(w)
    })
  },
  exit () {
    if (editor !== null) editor.destroy()
    if (provider !== null) provider.destroy()
    setImmediate(() => process.exit(0))
    return {}
  }
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  if (!line.trim()) return
  let msg
  try {
    msg = JSON.parse(line)
    const handler = commands[msg.cmd]
    if (handler === undefined) throw new Error(`unknown command ${msg.cmd}`)
    const result = await handler(msg)
    emit({ id: msg.id, ok: true, result })
  } catch (err) {
    emit({ id: msg ? msg.id : null, ok: false, error: String(err && err.stack ? err.stack : err) })
  }
})
rl.on('close', () => process.exit(0))
emit({ event: 'ready', clientID: 0 })
