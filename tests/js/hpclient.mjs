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
//   socket {url}                  create the shared socket (HocuspocusProviderWebsocket)
//   open {doc, token, as?, sessionAwareness?}
//                                 attach a provider for document `doc` (Y.Text "t" in its own Y.Doc);
//                                 later commands name it `as` (default: doc). With sessionAwareness
//                                 one socket may carry the same document twice (4.x only).
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
import readline from 'node:readline'
import * as Y from 'yjs'
import WebSocket from 'ws'

const version = process.argv[2] === 'v3' ? 'v3' : 'v4'
const { HocuspocusProvider, HocuspocusProviderWebsocket } =
  await import(version === 'v3' ? '@hocuspocus/provider-v3' : '@hocuspocus/provider')

let socket = null
let connections = 0
let pings = 0 // connection-level pings received from the hub
const closes = [] // {code, reason} of every closed socket
const docs = new Map() // name -> state
const waiters = new Set()

class CountingWebSocket extends WebSocket {
  constructor (...args) {
    super(...args)
    connections += 1
    this.addEventListener('message', (event) => {
      const data = event.data
      const size = data.byteLength !== undefined ? data.byteLength : data.length
      const first = size === 1 ? new Uint8Array(data)[0] : -1
      if (first === 9) {
        pings += 1
        recheck()
      }
    })
  }
}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const recheck = () => {
  for (const w of waiters) {
    if (w.test()) {
      waiters.delete(w)
      clearTimeout(w.timer)
      w.resolve(report({ doc: w.doc }))
    }
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
  closes,
  doc: doc !== undefined && docs.has(doc) ? docReport(docs.get(doc)) : null
})

const sameIds = (a, b) => {
  const x = [...a].map(Number).sort((p, q) => p - q)
  const y = [...b].map(Number).sort((p, q) => p - q)
  return x.length === y.length && x.every((v, i) => v === y[i])
}

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
  connections: (_d, value) => connections >= value,
  pings: (_d, value) => pings >= value,
  status: (_d, value) => socket !== null && socket.status === value
}

const toUtf16 = (text, index) => {
  const chars = Array.from(text.toString())
  if (!(index >= 0 && index <= chars.length)) throw new Error(`position ${index} outside a text of ${chars.length}`)
  return chars.slice(0, index).join('').length
}

const makeProvider = (name, d, token, sessionAwareness) => {
  const provider = new HocuspocusProvider({
    websocketProvider: socket,
    name,
    document: d.ydoc,
    token,
    sessionAwareness: Boolean(sessionAwareness),
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
    onClose: ({ event }) => { d.closes.push({ code: event.code, reason: String(event.reason || '') }); recheck() }
  })
  provider.awareness.on('change', recheck)
  provider.attach() // a provider on a shared socket attaches itself only when it owns the socket
  return provider
}

const commands = {
  socket ({ url }) {
    if (socket !== null) throw new Error('the socket exists already')
    socket = new HocuspocusProviderWebsocket({
      url,
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
  open ({ doc, token, as, sessionAwareness }) {
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
      d.provider = makeProvider(doc, d, token, sessionAwareness)
    } else {
      d.provider.configuration.token = token
      d.provider.attach()
    }
    d.attached = true
    return report({ doc: key })
  },
  close ({ doc }) {
    const d = getDoc(doc)
    d.provider.detach()
    d.attached = false
    return report({ doc })
  },
  insert ({ doc, index, text: s }) {
    const d = getDoc(doc)
    d.text.insert(toUtf16(d.text, index), s)
    return report({ doc })
  },
  delete ({ doc, index, length }) {
    const d = getDoc(doc)
    const start = toUtf16(d.text, index)
    d.text.delete(start, toUtf16(d.text, index + length) - start)
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
    const condition = conditions[what]
    if (condition === undefined) throw new Error(`unknown condition ${what}`)
    const test = () => condition(doc === undefined ? null : getDoc(doc), value)
    if (test()) return report({ doc })
    return new Promise((resolve, reject) => {
      const w = { test, resolve, doc }
      w.timer = setTimeout(() => {
        waiters.delete(w)
        reject(new Error(`timed out after ${timeout}s waiting for ${what}=${JSON.stringify(value)}; ` +
          `state: ${JSON.stringify(report({ doc }))}`))
      }, timeout * 1000)
      waiters.add(w)
    })
  },
  exit () {
    for (const d of docs.values()) if (d.provider !== null) d.provider.destroy()
    if (socket !== null) socket.destroy()
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
// The test process went away: do not linger.
rl.on('close', () => process.exit(0))
emit({ event: 'ready', clientID: 0 })
