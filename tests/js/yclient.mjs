// A test driver around an unmodified npm y-websocket provider and its Yjs.
//
//   node yclient.mjs      y-websocket 3 (`WebsocketProvider`) on yjs 13
//   node yclient.mjs v4   @y/websocket 4 on @y/y (Yjs 14)
//
// It reads one JSON command per line on stdin and answers one JSON line per
// command on stdout: {"id": n, "ok": true, "result": {...}} or
// {"id": n, "ok": false, "error": "..."}. Lines without an id are events.
// Text positions are in Unicode code points, whatever the engine counts in.
//
// Commands:
//   connect {server, room, params?}   open (or reopen) the provider; a new server
//                                     URL gets a new provider on the same doc
//   disconnect                        provider.disconnect(): edits stay local
//   insert {index, text}              into Y.Text "t"
//   delete {index, length}
//   awareness {state}                 setLocalState (null: leave)
//   paragraph {text, index?}          a <paragraph> holding text, into Y.XmlFragment "default" (the
//                                     root Tiptap/ProseMirror bind) at index (default: the end); yjs 13
//   paragraphs                        {paragraphs}: the text of each node of "default"
//   report                            text, state vector, awareness, counters (framesSent,
//                                     packedFrames: frames sent holding more than one message)
//   wait {what, value?, timeout}      until a condition holds (see `conditions`)
//   exit
//
// Only documented extension points are used: the `WebSocketPolyfill` option
// (a `ws` subclass that counts the sync updates it sends, so the driver knows
// which of its updates a `stored` count covers) and the provider's per
// instance `messageHandlers` table, for Tongpin's opt-in `stored` message.
import * as decoding from 'lib0/decoding'
import WebSocket from 'ws'
import { emit, exitSoon, sameIds, serve, utf16Offset, waitCommand, waiting } from './common.mjs'

const FAMILIES = {
  v3: async () => ({ Y: await import('yjs'), ...(await import('y-websocket')), rootText: (doc) => doc.getText('t') }),
  // Yjs 14 has one shared type: a root type used as text is `doc.get(name)`.
  v4: async () => ({ Y: await import('@y/y'), ...(await import('@y/websocket')), rootText: (doc) => doc.get('t') })
}
const family = process.argv[2] || 'v3'
if (FAMILIES[family] === undefined) throw new Error(`unknown client family ${family}`)
const { Y, WebsocketProvider, rootText } = await FAMILIES[family]()

const MESSAGE_STORED = 100

const doc = new Y.Doc()
const text = rootText(doc)
let provider = null
let server = null
let stored = 0 // updates of the current connection the hub reported durable
let sent = [] // own clock after each sync update sent on the current connection
let connections = 0
let framesSent = 0
let packedFrames = 0
let textAtSync = [] // the text each time the provider became synced
const closes = [] // {code, reason} of every closed connection (code null: closed locally)

const ownClock = () => Y.getState(doc.store, doc.clientID)

// How many y-protocols messages a frame holds (sync, awareness, auth, query awareness).
const messagesIn = (bytes) => {
  const decoder = decoding.createDecoder(bytes)
  let n = 0
  while (decoding.hasContent(decoder)) {
    n++
    const type = decoding.readVarUint(decoder)
    if (type === 0) {
      decoding.readVarUint(decoder)
      decoding.readVarUint8Array(decoder)
    } else if (type === 1) {
      decoding.readVarUint8Array(decoder)
    } else if (type === 2) {
      decoding.readVarUint(decoder)
      decoding.readVarString(decoder)
    } else if (type !== 3) {
      break // not a message this driver knows: count it, do not guess its length
    }
  }
  return n
}

class CountingWebSocket extends WebSocket {
  constructor (...args) {
    super(...args)
    connections += 1
    stored = 0
    sent = []
  }

  send (data, ...rest) {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data)
    framesSent += 1
    if (messagesIn(bytes) > 1) packedFrames += 1
    // y-websocket sends one message per frame: 0 = sync; step 1 (=1) and update (=2) carry updates.
    if (bytes.length > 1 && bytes[0] === 0 && (bytes[1] === 1 || bytes[1] === 2)) {
      sent.push(ownClock())
    }
    return super.send(data, ...rest)
  }
}

const awarenessStates = () => {
  const out = {}
  if (provider !== null) {
    for (const [client, state] of provider.awareness.getStates()) out[client] = state
  }
  return out
}

const report = () => ({
  text: text.toString(),
  stateVector: Buffer.from(Y.encodeStateVector(doc)).toString('base64'),
  clientID: doc.clientID,
  synced: provider !== null && provider.synced,
  connected: provider !== null && provider.wsconnected,
  connections,
  framesSent,
  packedFrames,
  stored,
  sent,
  textAtSync,
  closes,
  awareness: awarenessStates()
})

const { recheck, until } = waiting(report)

const conditions = {
  synced: () => provider !== null && provider.synced,
  // synced on the value-th connection or a later one (the provider reconnects by itself)
  syncedOn: (value) => provider !== null && provider.synced && connections >= value,
  connected: (value) => provider !== null && provider.wsconnected === value,
  text: (value) => text.toString() === value,
  stored: (value) => stored >= value,
  // the set of client ids that have a (non-null) awareness state
  awareness: (value) => sameIds(Object.keys(awarenessStates()), value),
  closed: (value) => closes.some((c) => c.code === value),
  paragraphs: (value) => JSON.stringify(paragraphs()) === JSON.stringify(value)
}

doc.on('update', recheck)

const toUtf16 = (index) => utf16Offset(text, index)

const makeProvider = (url, room, params) => {
  const p = new WebsocketProvider(url, room, doc, {
    params: params || {},
    WebSocketPolyfill: CountingWebSocket,
    disableBc: true,
    maxBackoffTime: 200
  })
  p.messageHandlers[MESSAGE_STORED] = (_encoder, decoder) => {
    stored = decoding.readVarUint(decoder)
    recheck()
  }
  p.on('sync', (isSynced) => {
    if (isSynced) textAtSync.push(text.toString())
    recheck()
  })
  p.on('status', recheck)
  p.on('connection-close', (event) => {
    closes.push({ code: event ? event.code : null, reason: event ? String(event.reason || '') : '' })
    emit({ event: 'close', code: event ? event.code : null })
    recheck()
  })
  p.awareness.on('change', recheck)
  return p
}

// The ProseMirror root, made on first use (a root's type is fixed once asked for).
const fragment = () => {
  if (Y.XmlFragment === undefined) throw new Error('paragraphs need yjs 13 (the v3 family)')
  return doc.getXmlFragment('default')
}
const inlineText = (node) => node instanceof Y.XmlText
  ? node.toDelta().map((op) => (typeof op.insert === 'string' ? op.insert : '')).join('')
  : ''
const paragraphs = () => fragment().toArray().map((node) =>
  node instanceof Y.XmlElement ? node.toArray().map(inlineText).join('') : inlineText(node))

const commands = {
  connect ({ server: url, room, params }) {
    if (provider !== null && url !== server) {
      provider.awareness.destroy()
      provider.destroy()
      provider = null
    }
    server = url
    if (provider === null) {
      provider = makeProvider(url, room, params)
    } else {
      provider.connect()
    }
    return report()
  },
  disconnect () {
    if (provider !== null) provider.disconnect()
    return report()
  },
  insert ({ index, text: s }) {
    text.insert(toUtf16(index), s)
    return report()
  },
  delete ({ index, length }) {
    const start = toUtf16(index)
    text.delete(start, toUtf16(index + length) - start)
    return report()
  },
  paragraph ({ text: s, index }) {
    const root = fragment()
    const node = new Y.XmlElement('paragraph')
    node.insert(0, [new Y.XmlText(s)])
    root.insert(index === undefined ? root.length : index, [node])
    return { paragraphs: paragraphs() }
  },
  paragraphs () {
    return { paragraphs: paragraphs() }
  },
  awareness ({ state }) {
    provider.awareness.setLocalState(state)
    return report()
  },
  report,
  wait: waitCommand(conditions, until),
  exit () {
    if (provider !== null) provider.destroy()
    return exitSoon()
  }
}

serve(commands, { clientID: doc.clientID })
