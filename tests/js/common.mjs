// What the test drivers (yclient.mjs, hpclient.mjs, tiptap.mjs) share: the
// JSON-lines loop on stdin and stdout, waiting on named conditions, and
// positions in Unicode code points.
import readline from 'node:readline'

export const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

// Waits on conditions: `until(test, ...)` resolves with `report(about)` once
// `test()` holds (checked now and on every `recheck()`, which the driver calls
// on its clients' events), or fails after `timeout` seconds with the state.
export const waiting = (report) => {
  const waiters = new Set()
  const recheck = () => {
    for (const w of waiters) {
      if (w.test()) {
        waiters.delete(w)
        clearTimeout(w.timer)
        w.resolve(report(w.about))
      }
    }
  }
  const until = (test, { what, value, timeout, about }) => {
    if (test()) return report(about)
    return new Promise((resolve, reject) => {
      const w = { test, resolve, about }
      w.timer = setTimeout(() => {
        waiters.delete(w)
        reject(new Error(`timed out after ${timeout}s waiting for ${what}=${JSON.stringify(value)}; ` +
          `state: ${JSON.stringify(report(about))}`))
      }, timeout * 1000)
      waiters.add(w)
    })
  }
  return { recheck, until }
}

export const condition = (conditions, what) => {
  const test = conditions[what]
  if (test === undefined) throw new Error(`unknown condition ${what}`)
  return test
}

// The `wait {what, value?, timeout}` command of a driver with one document.
export const waitCommand = (conditions, until) => ({ what, value, timeout }) => {
  const holds = condition(conditions, what)
  return until(() => holds(value), { what, value, timeout })
}

// Answer the `exit` command, then exit.
export const exitSoon = () => {
  setImmediate(() => process.exit(0))
  return {}
}

// Do two lists of client ids hold the same ids (numbers or their strings)?
export const sameIds = (a, b) => {
  const x = [...a].map(Number).sort((p, q) => p - q)
  const y = [...b].map(Number).sort((p, q) => p - q)
  return x.length === y.length && x.every((v, i) => v === y[i])
}

// The UTF-16 offset of code point `index` in `text` (a Y.Text or a string).
export const utf16Offset = (text, index) => {
  const chars = Array.from(text.toString())
  if (!(index >= 0 && index <= chars.length)) throw new Error(`position ${index} outside a text of ${chars.length}`)
  return chars.slice(0, index).join('').length
}

// One JSON command per stdin line, {id, cmd, ...}; one answer per command,
// {id, ok: true, result} or {id, ok: false, error}; then the `ready` event.
export const serve = (commands, ready) => {
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
  emit({ event: 'ready', ...ready })
}
