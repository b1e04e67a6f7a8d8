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
import { Window } from 'happy-dom'
import WebSocket from 'ws'
import { exitSoon, serve, waitCommand, waiting } from './common.mjs'

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

const { recheck, until } = waiting(report)

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
  wait: waitCommand(conditions, until),
  exit () {
    if (editor !== null) editor.destroy()
    if (provider !== null) provider.destroy()
    return exitSoon()
  }
}

serve(commands, { clientID: 0 })
