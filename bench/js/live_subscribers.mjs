// Subscribers of Tongpin's WS /live for the live-channel benchmarks (bench/live_bench.py).
//
//   node live_subscribers.mjs '{"mode": "fanout", "url": "ws://127.0.0.1:PORT/live", "clients": 500,
//                               "channel": "unit:humen", "sample": 50, "concurrency": 50}'
//
// fanout: connect `clients` sockets, subscribe each to `channel`, print one JSON line {"ready": true}.
//   Then count event frames on every socket; the first `sample` sockets also parse them and record
//   latency = receive time - data.t (the publisher's wall clock, ms; same machine). On "stop" on
//   stdin, print the result: deliveries, first/last receive time, latency percentiles.
// hold: connect and subscribe (`distinct`: each socket its own channel `user:bench-N`), print
//   {"ready": true, "open": n}, and hold until stdin closes (the caller reads the server's RSS).
import WebSocket from 'ws'
import readline from 'node:readline'

const cfg = JSON.parse(process.argv[2])
const now = () => performance.timeOrigin + performance.now()

function open (i, channel, onEvent) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(cfg.url, { perMessageDeflate: false })
    let subscribed = false
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel })))
    ws.on('message', (data, isBinary) => {
      if (!subscribed) {
        const msg = JSON.parse(data.toString())
        if (msg.type === 'subscribed') { subscribed = true; resolve(ws) }
        if (msg.type === 'error') reject(new Error(msg.message))
        return
      }
      onEvent(i, data)
    })
    ws.on('error', reject)
  })
}

async function openAll (channelOf, onEvent) {
  const sockets = []
  let next = 0
  async function worker () {
    while (next < cfg.clients) {
      const i = next++
      sockets[i] = await open(i, channelOf(i), onEvent)
    }
  }
  await Promise.all(Array.from({ length: cfg.concurrency || 50 }, worker))
  return sockets
}

function percentile (sorted, p) {
  if (!sorted.length) return null
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

async function fanout () {
  let deliveries = 0
  let first = 0
  let last = 0
  const latencies = []
  const sample = cfg.sample ?? 50
  const onEvent = (i, data) => {
    const t = now()
    if (!first) first = t
    last = t
    deliveries++
    if (i < sample) {
      const msg = JSON.parse(data.toString())
      if (msg.type === 'event') latencies.push(t - msg.data.t)
    }
  }
  const sockets = await openAll(() => cfg.channel, onEvent)
  console.log(JSON.stringify({ ready: true, open: sockets.length }))
  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) {
    if (line.trim() === 'reset') {
      deliveries = 0; first = 0; last = 0; latencies.length = 0
      console.log(JSON.stringify({ reset: true }))
    } else if (line.trim() === 'stop') {
      latencies.sort((a, b) => a - b)
      console.log(JSON.stringify({
        deliveries,
        window_s: (last - first) / 1000,
        latency_ms: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies.at(-1), n: latencies.length }
      }))
    } else if (line.trim() === 'exit') {
      break
    }
  }
  for (const ws of sockets) ws.terminate()
}

async function hold () {
  const sockets = await openAll((i) => cfg.distinct ? `user:bench-${i}` : cfg.channel, () => {})
  console.log(JSON.stringify({ ready: true, open: sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length }))
  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) { if (line.trim() === 'exit') break }
  for (const ws of sockets) ws.terminate()
}

if (cfg.mode === 'fanout') await fanout()
else if (cfg.mode === 'hold') await hold()
else throw new Error(`unknown mode ${cfg.mode}`)
process.exit(0)
