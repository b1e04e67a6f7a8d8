// Tongpin benchmark load generator: real Yjs clients against any y-websocket server.
//
//   node loadgen.mjs '<json config>'
//
// Prints progress on stderr and one JSON result line on stdout. The config's
// `mode` picks the scenario (fanout, idle, fill, coldload, mux); see each function.
//
// Clients:
// - "full": an unmodified y-websocket WebsocketProvider with its own Y.Doc.
//   Every writer is one; each update it sends is a real Yjs update made by
//   `ytext.insert` in its doc. Receivers of this kind apply every update.
// - "raw": a `ws` socket that does the y-websocket sync handshake with
//   messages y-protocols encodes from an empty Y.Doc, then only reads the
//   updates it is sent (it does not apply them). Used where thousands of
//   receivers would make the generator, not the server, the bottleneck.
//
// With `dialect: "hocuspocus"` the same roles speak the Hocuspocus dialect
// (every frame prefixed with the document name, the token sent in-band, many
// documents per socket): "full" clients are unmodified @hocuspocus/provider
// HocuspocusProviders, "raw" ones `ws` sockets that frame the messages
// themselves (see DialectSocket).
//
// Every update carries a marker `<<id>>` in its inserted text. The generator
// remembers when it sent id; a receiver that sees the marker in a sync
// update records the fan-out latency. Sender and receivers share one clock
// (one process), so no clock sync is involved.
//
// BroadcastChannel is disabled on every provider: otherwise providers in one
// Node process would sync with each other without the server. Awareness local
// state is null on every client so the figures count document updates only.

import fs from 'node:fs'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as syncProtocol from 'y-protocols/sync'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'

const cfg = JSON.parse(process.argv[2] || '{}')
process.setMaxListeners(0) // every provider adds an 'exit' listener
const log = (...a) => process.stderr.write(`[loadgen] ${a.join(' ')}\n`)
const now = () => performance.now()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------- server stats

const CLK_TCK = 100 // getconf CLK_TCK on Linux

function serverTimes (pid) {
  if (!pid) return null
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); utime is field 14, stime field 15
  return { user: Number(fields[11]) / CLK_TCK, sys: Number(fields[12]) / CLK_TCK }
}

function serverCpu (pid) {
  const t = serverTimes(pid)
  return t === null ? null : t.user + t.sys
}

function serverRssKiB (pid) {
  if (!pid) return null
  const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1')
  const m = /VmRSS:\s+(\d+) kB/.exec(status)
  return m ? Number(m[1]) : null
}

function selfCpu () {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

// ---------------------------------------------------------------- markers

const MARK_RE = /<<(\d+)>>/g

class Tracker {
  constructor (capacity) {
    this.sentAt = new Float64Array(capacity).fill(-1)
    this.sender = new Int32Array(capacity).fill(-1)
    this.counts = new Uint16Array(capacity)
    this.lat = []
    this.measureFrom = Infinity // ids >= this are measured
    this.measureTo = Infinity // ids < this are measured
    this.deliveries = 0
    this.foreign = 0 // marker we never sent (or sent before counting began)
    this.lastDeliveryAt = 0
  }

  seen (clientIndex, bytesLatin1, at) {
    MARK_RE.lastIndex = 0
    let m
    while ((m = MARK_RE.exec(bytesLatin1)) !== null) {
      const id = Number(m[1])
      if (id >= this.sentAt.length || this.sentAt[id] < 0) { this.foreign++; continue }
      if (this.sender[id] === clientIndex) continue // an echo of our own update
      this.counts[id]++
      this.deliveries++
      this.lastDeliveryAt = at
      if (id >= this.measureFrom && id < this.measureTo) this.lat.push(at - this.sentAt[id])
    }
  }
}

const toLatin1 = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('latin1')

// ---------------------------------------------------------------- clients


const emptyDoc = new Y.Doc()
const RAW_STEP1 = (() => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  syncProtocol.writeSyncStep1(e, emptyDoc)
  return encoding.toUint8Array(e)
})()
const RAW_STEP2 = (() => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  syncProtocol.writeSyncStep2(e, emptyDoc)
  return encoding.toUint8Array(e)
})()

class FullClient {
  constructor (index, serverUrl, room, tracker) {
    this.index = index
    this.kind = 'full'
    this.doc = new Y.Doc()
    this.text = this.doc.getText('t')
    this.provider = new WebsocketProvider(serverUrl, room, this.doc, {
      WebSocketPolyfill: WebSocket,
      disableBc: true,
      connect: false,
      maxBackoffTime: 60000
    })
    this.provider.awareness.setLocalState(null)
    this.closes = 0
    this.provider.on('connection-close', () => { this.closes++ })
    if (tracker) {
      this.doc.on('update', (update, origin) => {
        if (origin === this.provider) tracker.seen(this.index, toLatin1(update), now())
      })
    }
  }

  connect () {
    return new Promise((resolve) => {
      if (this.provider.synced) return resolve()
      const onSync = (s) => { if (s) { this.provider.off('sync', onSync); resolve() } }
      this.provider.on('sync', onSync)
      this.provider.connect()
    })
  }

  destroy () {
    this.provider.destroy()
    this.doc.destroy()
  }
}

// A `ws` socket whose subclass does the handshake itself (`_connectOnce`).
// Like a provider, one that is closed before it synced tries again (up to 5
// times, counted in `closes`).
class RawSocketClient {
  constructor (url, tracker) {
    this.kind = 'raw'
    this.url = url
    this.tracker = tracker
    this.closes = 0
    this.ws = null
  }

  async connect () {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this._connectOnce()
      } catch (err) {
        if (attempt >= 5) throw err
        await sleep(100 * (attempt + 1))
      }
    }
  }

  _open () {
    const ws = new WebSocket(this.url, { perMessageDeflate: false })
    this.ws = ws
    ws.binaryType = 'nodebuffer'
    return ws
  }

  destroy () {
    if (this.ws) this.ws.terminate()
  }
}

class RawClient extends RawSocketClient {
  constructor (index, serverUrl, room, tracker) {
    super(`${serverUrl}/${room}`, tracker)
    this.index = index
    this.synced = false
  }

  _connectOnce () {
    return new Promise((resolve, reject) => {
      const ws = this._open()
      ws.on('open', () => ws.send(RAW_STEP1))
      ws.on('message', (data) => {
        if (data[0] !== 0) return // awareness and others: ignored
        const step = data[1]
        if (step === 2) {
          if (this.tracker) this.tracker.seen(this.index, data.toString('latin1'), now())
        } else if (step === 0) {
          ws.send(RAW_STEP2)
        } else if (step === 1 && !this.synced) {
          this.synced = true
          resolve()
        }
      })
      ws.on('close', () => { this.closes++; if (!this.synced) reject(new Error('closed before sync')) })
      ws.on('error', (err) => { if (!this.synced) reject(err) })
    })
  }
}

// ---------------------------------------------------------------- Hocuspocus dialect

const HOCUS_TOKEN = 'bench' // any non-empty token: the servers under test accept it
const HOCUS_PROVIDER_VERSION = JSON.parse(
  fs.readFileSync(new URL('./node_modules/@hocuspocus/provider/package.json', import.meta.url), 'utf8')
).version

// An unmodified HocuspocusProvider on its own HocuspocusProviderWebsocket
// (one socket per client, as a y-websocket provider has).
class HocusClient {
  constructor (index, serverUrl, name, tracker) {
    this.index = index
    this.kind = 'full'
    this.url = serverUrl
    this.name = name
    this.tracker = tracker
    this.doc = new Y.Doc()
    this.text = this.doc.getText('t')
    this.socket = null
    this.provider = null
    this.closes = 0
  }

  connect () {
    return new Promise((resolve, reject) => {
      this.socket = new HocuspocusProviderWebsocket({ url: this.url, WebSocketPolyfill: WebSocket, maxDelay: 60000 })
      const p = new HocuspocusProvider({
        websocketProvider: this.socket,
        name: this.name,
        document: this.doc,
        token: HOCUS_TOKEN,
        awareness: null
      })
      this.provider = p
      p.on('close', () => { this.closes++ })
      p.on('authenticationFailed', ({ reason }) => reject(new Error(`authentication failed: ${reason}`)))
      p.on('synced', ({ state }) => { if (state) resolve() })
      if (this.tracker) {
        this.doc.on('update', (update, origin) => {
          if (origin === p) this.tracker.seen(this.index, toLatin1(update), now())
        })
      }
      p.attach() // a provider on a socket it was given attaches by call
    })
  }

  destroy () {
    if (this.provider) this.provider.destroy()
    if (this.socket) this.socket.destroy()
    this.doc.destroy()
  }
}

// One item in a Hocuspocus-dialect frame: the document name, then the message.
function hocusFrame (name, write) {
  const e = encoding.createEncoder()
  encoding.writeVarString(e, name)
  write(e)
  return encoding.toUint8Array(e)
}

const hocusToken = (name) => hocusFrame(name, (e) => {
  encoding.writeVarUint(e, 2) // auth
  encoding.writeVarUint(e, 0) // token
  encoding.writeVarString(e, HOCUS_TOKEN)
  encoding.writeVarString(e, HOCUS_PROVIDER_VERSION)
})

// A `ws` socket speaking the Hocuspocus dialect for several documents, framing
// the messages itself, as a provider does: for each document the token, then
// sync step 1; it answers the server's step 1 and is synced when every
// document's step 2 has come. `docs` is [{name, index, doc}]: `index` is the
// tracker's client index for that document; `doc` a Y.Doc whose changes the
// socket sends and into which it applies what it gets (a writer), or null for a
// receiver that only reads.
class DialectSocket extends RawSocketClient {
  constructor (serverUrl, docs, tracker) {
    super(serverUrl, tracker)
    this.docs = new Map(docs.map((d) => [d.name, { ...d, synced: false }]))
    for (const d of this.docs.values()) {
      if (d.doc === null) continue
      d.doc.on('update', (update, origin) => {
        if (origin === this || this.ws === null || this.ws.readyState !== WebSocket.OPEN) return
        this.ws.send(hocusFrame(d.name, (e) => { encoding.writeVarUint(e, 0); syncProtocol.writeUpdate(e, update) }))
      })
    }
  }

  _connectOnce () {
    return new Promise((resolve, reject) => {
      const ws = this._open()
      let unsynced = this.docs.size
      for (const d of this.docs.values()) d.synced = false
      ws.on('open', () => {
        for (const d of this.docs.values()) {
          ws.send(hocusToken(d.name))
          ws.send(hocusFrame(d.name, (e) => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep1(e, d.doc ?? emptyDoc) }))
        }
      })
      ws.on('message', (data) => {
        const at = now()
        const decoder = decoding.createDecoder(data)
        const d = this.docs.get(decoding.readVarString(decoder))
        if (d === undefined) return
        const type = decoding.readVarUint(decoder)
        if (type === 2 && decoding.readVarUint(decoder) === 1) {
          reject(new Error(`permission denied for ${d.name}: ${decoding.readVarString(decoder)}`))
          return
        }
        if (type !== 0 && type !== 4) return // awareness, sync status and others: ignored
        const step = decoding.readVarUint(decoder)
        const payload = decoding.readVarUint8Array(decoder)
        if (step === 0) {
          ws.send(hocusFrame(d.name, (e) => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep2(e, d.doc ?? emptyDoc, payload) }))
          return
        }
        if (step === 2 && this.tracker) this.tracker.seen(d.index, data.toString('latin1'), at)
        if (d.doc !== null) Y.applyUpdate(d.doc, payload, this)
        if (step === 1 && !d.synced) {
          d.synced = true
          if (--unsynced === 0) resolve()
        }
      })
      ws.on('close', () => { this.closes++; if (unsynced > 0) reject(new Error('closed before sync')) })
      ws.on('error', (err) => { if (unsynced > 0) reject(err) })
    })
  }
}

async function connectAll (clients, concurrency) {
  let next = 0
  const times = []
  async function lane () {
    while (next < clients.length) {
      const c = clients[next++]
      const t0 = now()
      await c.connect()
      times.push(now() - t0)
    }
  }
  const started = now()
  await Promise.all(Array.from({ length: Math.min(concurrency, clients.length) }, lane))
  return { seconds: (now() - started) / 1000, times }
}

// ---------------------------------------------------------------- helpers

function makeRng (seed) {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13; s >>>= 0
    s ^= s >>> 17
    s ^= s << 5; s >>>= 0
    return s / 4294967296
  }
}

const FILLER = ['同频', '融媒体', '选题', '稿件', '编辑部', '记者', 'news', '快讯']

function pct (sorted, p) {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

function latencyStats (lat) {
  const s = Float64Array.from(lat).sort()
  return {
    count: s.length,
    p50_ms: pct(s, 50),
    p90_ms: pct(s, 90),
    p99_ms: pct(s, 99),
    max_ms: s.length ? s[s.length - 1] : null
  }
}

// Writes marked updates (`<<id>>` and a filler word, at a seeded random place)
// round-robin over `writers` ([{ text, index }]: a Y.Text and the tracker's
// client index of its writer), recording when each id was sent and by whom.
class MarkedSender {
  constructor (tracker, writers, seed) {
    this.tracker = tracker
    this.writers = writers
    this.rng = makeRng(seed)
    this.id = 0 // the next marker
  }

  send () {
    const id = this.id++
    const w = this.writers[id % this.writers.length]
    const pos = Math.floor(this.rng() * (w.text.length + 1))
    this.tracker.sentAt[id] = now()
    this.tracker.sender[id] = w.index
    w.text.insert(pos, `<<${id}>>${FILLER[id % FILLER.length]}`)
  }

  // `count` updates at `rate` per second; returns the seconds it took.
  async pace (count, rate) {
    const start = now()
    let sent = 0
    while (sent < count) {
      const due = Math.min(count, Math.floor(((now() - start) / 1000) * rate) + 1)
      while (sent < due) { this.send(); sent++ }
      await sleep(1)
    }
    return (now() - start) / 1000
  }
}

async function waitUntil (pred, timeoutMs, stepMs = 20) {
  const deadline = now() + timeoutMs
  while (!pred()) {
    if (now() > deadline) return false
    await sleep(stepMs)
  }
  return true
}

// ---------------------------------------------------------------- fanout

// N clients on one draft; `writers` of them are full providers that send
// `rate` updates/s in total, round-robin. Warm-up first, then a measured
// window: server CPU and every delivery of the measured updates.
async function fanout () {
  const n = cfg.clients
  const writers = Math.min(cfg.writers ?? n, n)
  const rate = cfg.rate
  const warmup = cfg.warmup_s ?? 2
  const duration = cfg.duration_s ?? 10
  const total = Math.ceil(rate * (warmup + duration)) + 10
  const tracker = new Tracker(total)
  const clients = []
  const hocus = cfg.dialect === 'hocuspocus'
  for (let i = 0; i < n; i++) {
    const full = i < writers || cfg.receivers !== 'raw'
    if (hocus) {
      clients.push(full
        ? new HocusClient(i, cfg.url, cfg.room, tracker)
        : new DialectSocket(cfg.url, [{ name: cfg.room, index: i, doc: null }], tracker))
    } else {
      clients.push(full ? new FullClient(i, cfg.url, cfg.room, tracker) : new RawClient(i, cfg.url, cfg.room, tracker))
    }
  }
  const conn = await connectAll(clients, cfg.concurrency ?? 50)
  const connectCloses = clients.reduce((a, c) => a + c.closes, 0)
  log(`fanout: ${n} clients synced in ${conn.seconds.toFixed(2)}s (${connectCloses} closed while connecting)`)
  await sleep(500)

  const sender = new MarkedSender(tracker, clients.slice(0, writers), cfg.seed ?? 7)
  const warmCount = Math.round(rate * warmup)
  await sender.pace(warmCount, rate)
  const warmExpected = warmCount * (n - 1)
  await waitUntil(() => tracker.deliveries >= warmExpected, 10000)
  await sleep(200)

  const firstMeasured = sender.id
  const count = Math.round(rate * duration)
  tracker.measureFrom = firstMeasured
  tracker.measureTo = firstMeasured + count
  const deliveredBefore = tracker.deliveries
  const times0 = serverTimes(cfg.pid)
  const cpu0 = serverCpu(cfg.pid)
  const gen0 = selfCpu()
  const t0 = now()
  const sendSeconds = await sender.pace(count, rate)
  const expected = count * (n - 1)
  const drained = await waitUntil(() => tracker.deliveries - deliveredBefore >= expected, (cfg.drain_s ?? 5) * 1000, 5)
  const t1 = drained ? tracker.lastDeliveryAt : now()
  const cpu1 = serverCpu(cfg.pid)
  const times1 = serverTimes(cfg.pid)
  const gen1 = selfCpu()
  const delivered = tracker.deliveries - deliveredBefore

  let missing = 0
  let dups = 0
  for (let i = firstMeasured; i < firstMeasured + count; i++) {
    const c = tracker.counts[i]
    if (c < n - 1) missing += n - 1 - c
    if (c > n - 1) dups += c - (n - 1)
  }
  // Full clients must end with identical documents.
  await sleep(300)
  const fulls = clients.filter((c) => c.kind === 'full')
  const ref = fulls[0].text.toString()
  const divergent = fulls.filter((c) => c.text.toString() !== ref).length
  const reconnects = clients.reduce((a, c) => a + c.closes, 0) - connectCloses
  const wall = (t1 - t0) / 1000
  const result = {
    mode: 'fanout',
    dialect: hocus ? 'hocuspocus' : 'yjs',
    clients: n,
    writers,
    receivers: cfg.receivers ?? 'full',
    rate,
    updates: count,
    achieved_rate: count / sendSeconds,
    expected_deliveries: expected,
    delivered,
    missing,
    duplicates: dups,
    divergent_docs: divergent,
    reconnects, // sockets closed after every client had synced
    connect_closes: connectCloses, // closed while connecting (each client retried)
    foreign_markers: tracker.foreign,
    window_s: wall,
    server_cpu_s: cpu1 !== null ? cpu1 - cpu0 : null,
    cpu_per_delivery_us: cpu1 !== null && delivered ? ((cpu1 - cpu0) / delivered) * 1e6 : null,
    server_user_s: times1 !== null ? times1.user - times0.user : null,
    server_sys_s: times1 !== null ? times1.sys - times0.sys : null,
    server_cpu_share: cpu1 !== null ? (cpu1 - cpu0) / wall : null,
    generator_cpu_share: (gen1 - gen0) / wall,
    latency: latencyStats(tracker.lat),
    text_chars: ref.length
  }
  for (const c of clients) c.destroy()
  return result
}

// ---------------------------------------------------------------- idle

// One seeded draft; N clients connect with `concurrency` handshakes in
// flight. Reports the connect-and-sync rate and the server's RSS growth.
async function idle () {
  const n = cfg.clients
  const seed = new FullClient(-1, cfg.url, cfg.room, null)
  await seed.connect()
  for (let i = 0; i < (cfg.seed_updates ?? 50); i++) seed.text.insert(seed.text.length, `${FILLER[i % FILLER.length]}${i} `)
  await sleep(cfg.settle_s * 1000)
  const rss0 = serverRssKiB(cfg.pid)
  const clients = []
  for (let i = 0; i < n; i++) {
    clients.push(cfg.kind === 'raw' ? new RawClient(i, cfg.url, cfg.room, null) : new FullClient(i, cfg.url, cfg.room, null))
  }
  const cpu0 = serverCpu(cfg.pid)
  const gen0 = selfCpu()
  const conn = await connectAll(clients, cfg.concurrency ?? 100)
  const cpu1 = serverCpu(cfg.pid)
  const gen1 = selfCpu()
  const rssConnected = serverRssKiB(cfg.pid)
  log(`idle: ${n} clients synced in ${conn.seconds.toFixed(2)}s`)
  await sleep(cfg.settle_s * 1000)
  const rss1 = serverRssKiB(cfg.pid)
  const stillOpen = clients.filter((c) => c.kind === 'raw' ? c.ws.readyState === WebSocket.OPEN : c.provider.wsconnected).length
  const reconnects = clients.reduce((a, c) => a + c.closes, 0)
  const times = Float64Array.from(conn.times).sort()
  const result = {
    mode: 'idle',
    clients: n,
    kind: cfg.kind ?? 'full',
    concurrency: cfg.concurrency ?? 100,
    connect_seconds: conn.seconds,
    connect_rate: n / conn.seconds,
    handshake_p50_ms: pct(times, 50),
    handshake_p99_ms: pct(times, 99),
    server_cpu_per_connect_ms: cpu1 !== null ? ((cpu1 - cpu0) / n) * 1e3 : null,
    server_cpu_share: cpu1 !== null ? (cpu1 - cpu0) / conn.seconds : null,
    generator_cpu_share: (gen1 - gen0) / conn.seconds,
    rss_before_kib: rss0,
    rss_connected_kib: rssConnected,
    rss_after_kib: rss1,
    kib_per_connection: rss1 !== null ? (rss1 - rss0) / n : null,
    still_open: stillOpen,
    reconnects
  }
  for (const c of clients) c.destroy()
  seed.destroy()
  return result
}

// ---------------------------------------------------------------- fill

// One writer makes `updates` real Yjs updates (seeded, so every server gets
// the same ones), like an editor typing a draft: each update types 1-4
// characters at the caret (Chinese mostly) or, one in eight, deletes 1-3
// characters before it; one in twenty moves the caret to a random place
// first. Then a fresh client checks that the server holds all of it.
async function fill () {
  const w = new FullClient(0, cfg.url, cfg.room, null)
  await w.connect()
  const rng = makeRng(cfg.seed ?? 11)
  const total = cfg.updates
  const batch = cfg.batch ?? 200
  const alphabet = '同频融媒体选题稿件编辑部记者快讯城市新闻发布会现场直播采访图片视频标题导语正文，。、：“”abc123 '
  let caret = 0
  const t0 = now()
  for (let i = 0; i < total; i++) {
    const len = w.text.length
    if (rng() < 0.05) caret = Math.floor(rng() * (len + 1))
    caret = Math.min(caret, len)
    if (rng() < 0.125 && caret > 3) {
      const n = 1 + Math.floor(rng() * 3)
      w.text.delete(caret - n, n)
      caret -= n
    } else {
      let piece = ''
      const n = 1 + Math.floor(rng() * 4)
      for (let k = 0; k < n; k++) piece += alphabet[Math.floor(rng() * alphabet.length)]
      w.text.insert(caret, piece)
      caret += piece.length
    }
    if (i % batch === batch - 1) {
      // let the socket drain so the server is not flooded beyond its own pace
      while (w.provider.ws && w.provider.ws.bufferedAmount > 0) await sleep(2)
      await sleep(cfg.pause_ms ?? 5)
    }
  }
  const sentSeconds = (now() - t0) / 1000
  const expectText = w.text.toString()
  const check = new FullClient(1, cfg.url, cfg.room, null)
  await check.connect()
  const ok = await waitUntil(() => check.text.toString() === expectText, 60000, 50)
  const result = {
    mode: 'fill',
    updates: total,
    send_seconds: sentSeconds,
    text_chars: expectText.length,
    server_has_all: ok,
    state_bytes: Y.encodeStateAsUpdate(w.doc).length
  }
  if (cfg.expect_file) fs.writeFileSync(cfg.expect_file, expectText)
  if (cfg.hold_until_file) {
    // Stay connected until the harness says the server has stored it all.
    process.stdout.write(JSON.stringify({ ...result, holding: true }) + '\n')
    const released = await waitUntil(() => fs.existsSync(cfg.hold_until_file), (cfg.hold_s ?? 120) * 1000, 100)
    result.hold_released = released
  }
  check.destroy()
  w.destroy()
  return result
}

// ---------------------------------------------------------------- coldload

// The first client after a restart: time from `connect()` to the provider's
// synced event, and to the moment its text equals what was written.
async function coldload () {
  const expectText = fs.readFileSync(cfg.expect_file, 'utf8')
  // Warm the generator's JIT on a document of the same size first, so the
  // client's own decoding is not timed cold (it is reported separately).
  const scratch = new Y.Doc()
  const st = scratch.getText('t')
  for (let i = 0; i < expectText.length; i += 7) st.insert(Math.floor(i / 2), expectText.slice(i, i + 7))
  Y.applyUpdate(new Y.Doc(), Y.encodeStateAsUpdate(scratch))
  // ... and its socket path: one handshake on another (empty) draft.
  const warm = new RawClient(-1, cfg.url, cfg.room + '-warmup', null)
  await warm.connect()
  warm.destroy()
  const c = new FullClient(0, cfg.url, cfg.room, null)
  let completeAt = null
  let completeMsgAt = null
  let openAt = null
  let step2At = null
  let msgAt = null
  c.provider.on('status', ({ status }) => { if (status === 'connected' && openAt === null) openAt = now() })
  // Timestamp the server's answer before the provider's own handler applies it.
  const syncHandler = c.provider.messageHandlers[0]
  c.provider.messageHandlers[0] = (encoder, decoder, provider, emitSynced, messageType) => {
    msgAt = now()
    if (step2At === null && decoder.arr[decoder.pos] === 1) step2At = msgAt
    syncHandler(encoder, decoder, provider, emitSynced, messageType)
  }
  const t0 = now()
  c.doc.on('update', () => {
    if (completeAt === null && c.text.length === expectText.length && c.text.toString() === expectText) {
      completeAt = now()
      completeMsgAt = msgAt
    }
  })
  await c.connect()
  const syncedAt = now()
  const charsAtSync = c.text.length
  const completeAtSync = c.text.toString() === expectText
  await waitUntil(() => completeAt !== null, (cfg.timeout_s ?? 20) * 1000, 2)
  const result = {
    mode: 'coldload',
    synced_ms: syncedAt - t0,
    open_ms: openAt !== null ? openAt - t0 : null,
    step2_ms: step2At !== null ? step2At - t0 : null,
    client_apply_ms: step2At !== null ? syncedAt - step2At : null,
    complete_at_sync: completeAtSync,
    chars_at_sync: charsAtSync,
    complete_ms: completeAt !== null ? completeAt - t0 : null,
    // arrival of the message that completed the document: the server's part
    server_complete_ms: completeMsgAt !== null ? completeMsgAt - t0 : null,
    expected_chars: expectText.length,
    final_chars: c.text.length
  }
  c.destroy()
  return result
}

// ---------------------------------------------------------------- mux

// Multiplexing (Hocuspocus dialect): `drafts` drafts, each with exactly one
// receiver attachment, held by `sockets` receiver sockets (drafts / sockets
// each). One writer socket carries every draft and sends `rate` real updates/s
// in total, round-robin over the drafts, so every layout has the same drafts,
// the same writer and one delivery per update; only how the receivers are
// spread over sockets changes. With `receiver_url` (Tongpin's /yjs, one draft
// per socket only) the receivers are y-websocket raw clients instead.
// Reports the server's RSS growth per receiver attachment and its CPU per
// delivered update.
async function mux () {
  const drafts = cfg.drafts
  const sockets = cfg.sockets
  if (drafts % sockets !== 0) throw new Error('drafts must be a multiple of sockets')
  const perSocket = drafts / sockets
  const rate = cfg.rate
  const warmup = cfg.warmup_s ?? 2
  const duration = cfg.duration_s ?? 8
  const settle = (cfg.settle_s ?? 1) * 1000
  const tracker = new Tracker(Math.ceil(rate * (warmup + duration)) + 10)
  const names = Array.from({ length: drafts }, (_, k) => `${cfg.room}-${k}`)
  const writerDocs = names.map((name, k) => ({ name, index: k, doc: new Y.Doc() }))
  const writer = new DialectSocket(cfg.url, writerDocs, tracker)

  await sleep(settle)
  const rssStart = serverRssKiB(cfg.pid)
  await writer.connect()
  await sleep(settle)
  const rssDrafts = serverRssKiB(cfg.pid)
  const receivers = []
  for (let s = 0; s < sockets; s++) {
    const mine = names.slice(s * perSocket, (s + 1) * perSocket)
    if (cfg.receiver_url) {
      if (perSocket !== 1) throw new Error('y-websocket receivers hold one draft per socket')
      receivers.push(new RawClient(drafts + s, cfg.receiver_url, mine[0], tracker))
    } else {
      receivers.push(new DialectSocket(cfg.url, mine.map((name, j) => ({ name, index: drafts + s * perSocket + j, doc: null })), tracker))
    }
  }
  const cpuConnect0 = serverCpu(cfg.pid)
  const conn = await connectAll(receivers, cfg.concurrency ?? 50)
  const cpuConnect1 = serverCpu(cfg.pid)
  await sleep(settle)
  const rssAttached = serverRssKiB(cfg.pid)
  log(`mux: ${sockets} socket(s) x ${perSocket} draft(s) synced in ${conn.seconds.toFixed(2)}s`)

  const sender = new MarkedSender(tracker, writerDocs.map((w) => ({ text: w.doc.getText('t'), index: w.index })), cfg.seed ?? 7)
  const warmCount = Math.round(rate * warmup)
  await sender.pace(warmCount, rate)
  await waitUntil(() => tracker.deliveries >= warmCount, 10000)
  await sleep(200)

  const first = sender.id
  const count = Math.round(rate * duration)
  tracker.measureFrom = first
  tracker.measureTo = first + count
  const before = tracker.deliveries
  const cpu0 = serverCpu(cfg.pid)
  const t0 = now()
  await sender.pace(count, rate)
  const drained = await waitUntil(() => tracker.deliveries - before >= count, (cfg.drain_s ?? 5) * 1000, 5)
  const t1 = drained ? tracker.lastDeliveryAt : now()
  const cpu1 = serverCpu(cfg.pid)
  const delivered = tracker.deliveries - before
  const attachments = drafts
  const result = {
    mode: 'mux',
    drafts,
    sockets,
    drafts_per_socket: perSocket,
    receivers: cfg.receiver_url ? 'y-websocket' : 'hocuspocus',
    rate,
    updates: count,
    delivered,
    missing: Math.max(0, count - delivered),
    reconnects: receivers.reduce((a, c) => a + c.closes, 0) + writer.closes,
    window_s: (t1 - t0) / 1000,
    server_cpu_s: cpu1 - cpu0,
    cpu_per_delivery_us: delivered ? ((cpu1 - cpu0) / delivered) * 1e6 : null,
    server_cpu_per_attach_ms: ((cpuConnect1 - cpuConnect0) / attachments) * 1e3,
    rss_start_kib: rssStart,
    rss_drafts_kib: rssDrafts,
    rss_attached_kib: rssAttached,
    kib_per_draft_opened: (rssDrafts - rssStart) / drafts,
    kib_per_attachment: (rssAttached - rssDrafts) / attachments,
    latency: latencyStats(tracker.lat)
  }
  for (const r of receivers) r.destroy()
  writer.destroy()
  return result
}

// ---------------------------------------------------------------- main

const modes = { fanout, idle, fill, coldload, mux }
const run = modes[cfg.mode]
if (!run) {
  log(`unknown mode ${cfg.mode}`)
  process.exit(2)
}
const timer = setTimeout(() => { log('hard timeout'); process.exit(3) }, (cfg.hard_timeout_s ?? 170) * 1000)
try {
  const result = await run()
  process.stdout.write(JSON.stringify(result) + '\n')
  clearTimeout(timer)
  process.exit(0)
} catch (err) {
  log(err && err.stack ? err.stack : String(err))
  process.exit(1)
}
