// A test driver around the unmodified npm `@hocuspocus/provider` and `yjs`:
// one HocuspocusProviderWebsocket (one socket) carrying several documents.
//
// `node hpclient.mjs` uses @hocuspocus/provider (4.x); `node hpclient.mjs v3`
// the 3.x release (installed as @hocuspocus/provider-v3).
//
// It reads one JSON command per line on stdin and answers one JSON line per
// command on stdout: {"id": n, "ok": true, "result": {...}} or
// {"id": n, "ok": false, "error": "..."}. Lines without an id are events.
// Text positions are in Unicode code points, whatever the engine counts in.
//
// Commands:
//   socket {url, messageReconnectTimeout?}
//                                 create the shared socket (HocuspocusProviderWebsocket)
//   open {doc, token, as?, sessionAwareness?, awareness?, reattach?}
//                                 attach a provider for document `doc` (Y.Text "t" in its own Y.Doc);
//                                 later commands name it `as` (default: doc). With sessionAwareness
//                                 one socket may carry the same document twice (4.x only). awareness
//                                 false: the provider has none. reattach: when the hub ends the
//                                 document alone (its close event while the socket stays up), the app
//                                 detaches and attaches the provider again, as an app would to learn
//                                 its rights now
//   reattach {doc, token}         detach and attach again with a new token
//   close {doc}                   detach it: the provider sends its close message; the Y.Doc is kept
//   insert {doc, index, text}     into Y.Text "t"
//   delete {doc, index, length}
//   awareness {doc, state}        setLocalState (null: leave)
//   stateless {doc, payload}      provider.sendStateless(payload)
//   disconnect / connect          the shared socket
//   report {doc?}                 socket state, and the document's (text, state vector, auth, counters)
//   wait {what, doc?, value?, timeout}   until a condition holds (see `conditions`)
//   exit
//
// Only documented extension points are used: the `WebSocketPolyfill` option
// (a `ws` subclass that counts connections and the hub's pings) and the
// provider's own events.
import * as Y from 'yjs'
import WebSocket from 'ws'
import { condition, emit, exitSoon, sameIds, serve, utf16Offset, waiting } from './common.mjs'

const version = process.argv[2] === 'v3' ? 'v3' : 'v4'
const { HocuspocusProvider, HocuspocusProviderWebsocket } =
  await import(version === 'v3' ? '@hocuspocus/provider-v3' : '@hocuspocus/provider')

let socket = null
let connections = 0
let pings = 0 // connection-level pings received from the hub
let keepalives = 0 // frames addressed to no document (the hub's keepalive for 3.x)
const closes = [] // {code, reason} of every closed socket
const docs = new Map() // name -> state

class CountingWebSocket extends WebSocket {
  constructor (...args) {
    super(...args)
    connections += 1
    this.addEventListener('message', (event) => {
      const data = event.data
      const size = data.byteLength !== undefined ? data.byteLength : data.length
      const bytes = size <= 2 ? new Uint8Array(data) : null
      if (size === 1 && bytes[0] === 9) {
        pings += 1
        recheck()
      } else if (size === 2 && bytes[0] === 0 && bytes[1] === 9) {
        keepalives += 1
        recheck()
      }
    })
  }
}

const getDoc = (name) => {
  const d = docs.get(name)
  if (d === undefined) throw new Error(`no document ${name}`)
  return d
}

const awarenessStates = (d) => {
  const out = {}
  if (d.provider.awareness) {
    for (const [client, state] of d.provider.awareness.getStates()) out[client] = state
  }
  return out
}

const docReport = (d) => ({
  text: d.text.toString(),
  stateVector: Buffer.from(Y.encodeStateVector(d.ydoc)).toString('base64'),
  clientID: d.ydoc.clientID,
  synced: d.provider.synced,
  attached: d.attached,
  scope: d.scope,
  isAuthenticated: d.provider.isAuthenticated,
  denied: d.denied,
  unsynced: d.provider.unsyncedChanges,
  stateless: d.stateless,
  awareness: awarenessStates(d),
  closes: d.closes
})

const report = ({ doc } = {}) => ({
  version,
  status: socket !== null ? socket.status : null,
  connections,
  pings,
  keepalives,
  closes,
  doc: doc !== undefined && docs.has(doc) ? docReport(docs.get(doc)) : null
})

const { recheck, until } = waiting(report)

// Does `msg` hold every field of `pattern` with an equal (JSON) value?
const matches = (msg, pattern) =>
  Object.entries(pattern).every(([k, v]) => JSON.stringify(msg[k]) === JSON.stringify(v))

const conditions = {
  synced: (d) => d.provider.synced,
  text: (d, value) => d.text.toString() === value,
  authenticated: (d, value) => d.scope === value,
  denied: (d) => d.denied.length > 0,
  // the provider's count of changes the hub has not reported stored
  unsynced: (d, value) => d.provider.unsyncedChanges === value,
  // a stateless message matching every field of `value`
  stateless: (d, value) => d.stateless.some((m) => matches(m, value)),
  // at least value.count stateless messages matching value.match
  statelessCount: (d, value) => d.stateless.filter((m) => matches(m, value.match)).length >= value.count,
  awareness: (d, value) => sameIds(Object.keys(awarenessStates(d)), value),
  closed: (_d, value) => closes.some((c) => c.code === value),
  // the hub ended this document alone, with a reason starting with `value`
  ended: (d, value) => d.closes.some((c) => c.document && c.reason.startsWith(value ?? '')),
  keepalives: (_d, value) => keepalives >= value,
  connections: (_d, value) => connections >= value,
  pings: (_d, value) => pings >= value,
  status: (_d, value) => socket !== null && socket.status === value
}

// Detach and attach again: the provider closes the document, then sends its token and sync step 1.
const reattach = (d) => {
  d.scope = null
  d.provider.detach()
  d.provider.attach()
}

const makeProvider = (name, d, { token, sessionAwareness, awareness, reattach: again }) => {
  const provider = new HocuspocusProvider({
    websocketProvider: socket,
    name,
    document: d.ydoc,
    token,
    sessionAwareness: Boolean(sessionAwareness),
    ...(awareness === false ? { awareness: null } : {}),
    onAuthenticated: ({ scope }) => { d.scope = scope; recheck() },
    onAuthenticationFailed: ({ reason }) => { d.denied.push(reason); recheck() },
    onStateless: ({ payload }) => {
      let msg
      try { msg = JSON.parse(payload) } catch { msg = { raw: payload } }
      d.stateless.push(msg)
      recheck()
    },
    onSynced: recheck,
    onUnsyncedChanges: recheck,
    onClose: ({ event }) => {
      // The socket's own close has already marked it disconnected; a document's close leaves it up.
      const document = socket.status === 'connected'
      d.closes.push({ code: event.code, reason: String(event.reason || ''), document })
      if (document && again) setImmediate(() => reattach(d))
      recheck()
    }
  })
  if (provider.awareness) provider.awareness.on('change', recheck)
  provider.attach() // a provider on a shared socket attaches itself only when it owns the socket
  return provider
}

const commands = {
  socket ({ url, messageReconnectTimeout }) {
    if (socket !== null) throw new Error('the socket exists already')
    socket = new HocuspocusProviderWebsocket({
      url,
      ...(messageReconnectTimeout ? { messageReconnectTimeout } : {}),
      WebSocketPolyfill: CountingWebSocket,
      delay: 50,
      minDelay: 50,
      maxDelay: 300,
      jitter: false
    })
    socket.on('status', recheck)
    socket.on('close', ({ event }) => {
      closes.push({ code: event ? event.code : null, reason: event ? String(event.reason || '') : '' })
      emit({ event: 'close', code: event ? event.code : null })
      recheck()
    })
    return report()
  },
  open ({ doc, token, as, ...options }) {
    const key = as ?? doc
    let d = docs.get(key)
    if (d === undefined) {
      const ydoc = new Y.Doc()
      d = { ydoc, text: ydoc.getText('t'), provider: null, scope: null, denied: [], stateless: [], closes: [] }
      ydoc.on('update', recheck)
      docs.set(key, d)
    }
    if (d.provider !== null && d.attached) throw new Error(`${key} is open already`)
    d.scope = null
    if (d.provider === null) {
      d.provider = makeProvider(doc, d, { token, ...options })
    } else {
      d.provider.configuration.token = token
      d.provider.attach()
    }
    d.attached = true
    return report({ doc: key })
  },
  reattach ({ doc, token }) {
    const d = getDoc(doc)
    d.provider.configuration.token = token
    reattach(d)
    return report({ doc })
  },
  close ({ doc }) {
    const d = getDoc(doc)
    d.provider.detach()
    d.attached = false
    return report({ doc })
  },
  insert ({ doc, index, text: s }) {
    const d = getDoc(doc)
    d.text.insert(utf16Offset(d.text, index), s)
    return report({ doc })
  },
  delete ({ doc, index, length }) {
    const d = getDoc(doc)
    const start = utf16Offset(d.text, index)
    d.text.delete(start, utf16Offset(d.text, index + length) - start)
    return report({ doc })
  },
  awareness ({ doc, state }) {
    getDoc(doc).provider.awareness.setLocalState(state)
    return report({ doc })
  },
  stateless ({ doc, payload }) {
    getDoc(doc).provider.sendStateless(payload)
    return report({ doc })
  },
  disconnect () {
    socket.disconnect()
    return report()
  },
  connect () {
    socket.connect()
    return report()
  },
  report,
  wait ({ what, doc, value, timeout }) {
    const holds = condition(conditions, what)
    const test = () => holds(doc === undefined ? null : getDoc(doc), value)
    return until(test, { what, value, timeout, about: { doc } })
  },
  exit () {
    for (const d of docs.values()) if (d.provider !== null) d.provider.destroy()
    if (socket !== null) socket.destroy()
    return exitSoon()
  }
}

serve(commands, { clientID: 0 })
