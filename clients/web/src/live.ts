/**
 * The WS /live client (docs/LIVE.md, schema/live.schema.json).
 *
 * Keeps the set of wanted subscriptions and each channel's last position, so
 * a reconnect resubscribes with `since` and gets exactly the missed events;
 * `recovered: false` or `reset` asks the page to reload that channel's data
 * from the API. Reconnects with backoff unless the close code says not to.
 */

import { AUTH_CLOSES, NO_RECONNECT } from './closecodes'

export type LiveState = 'connecting' | 'connected' | 'offline'

export interface LiveEvent {
  channel: string
  event: string
  at: number
  data: unknown
}

export interface PresenceFrame {
  channel: string
  mode: 'snapshot' | 'diff' | 'summary'
  users?: Record<string, unknown>
  summary?: { users: number; active: number; idle: number }
}

interface Wanted {
  presence: boolean
  since: { epoch: string; offset: number } | null
  draft: string | null
  activity: 'active' | 'idle'
}

interface Listeners {
  event: Set<(e: LiveEvent) => void>
  presence: Set<(p: PresenceFrame) => void>
  reload: Set<(channel: string) => void>
  state: Set<(s: LiveState) => void>
  signout: Set<() => void>
  channels: Set<(active: ReadonlySet<string>) => void>
}

const MAX_BACKOFF_MS = 5000

export class Live {
  state: LiveState = 'offline'
  private ws: WebSocket | null = null
  private nextId = 1
  private attempts = 0
  private stopped = true
  private timer: number | undefined
  private readonly wanted = new Map<string, Wanted>()
  private readonly listeners: Listeners = {
    event: new Set(),
    presence: new Set(),
    reload: new Set(),
    state: new Set(),
    signout: new Set(),
    channels: new Set(),
  }
  /** Channels subscribed on the current connection. */
  readonly active = new Set<string>()

  constructor(private readonly url: () => string) {}

  on<K extends keyof Listeners>(kind: K, fn: Listeners[K] extends Set<infer F> ? F : never): () => void {
    const set = this.listeners[kind] as Set<typeof fn>
    set.add(fn)
    return () => set.delete(fn)
  }

  start(): void {
    this.stopped = false
    this.open()
  }

  /** Close and stay closed until `start` (sign-out, or the browser went offline). */
  stop(): void {
    this.stopped = true
    window.clearTimeout(this.timer)
    const ws = this.ws
    this.ws = null
    ws?.close(1000)
    this.setState('offline')
  }

  subscribe(channel: string, presence = false): void {
    if (this.wanted.has(channel)) return
    this.wanted.set(channel, { presence, since: null, draft: null, activity: 'active' })
    this.sendSubscribe(channel)
  }

  unsubscribe(channel: string): void {
    if (!this.wanted.delete(channel)) return
    this.setActive(channel, false)
    this.send({ type: 'unsubscribe', id: this.nextId++, channel })
  }

  /** Where this connection is in a room: which draft, active or idle. */
  setPresence(channel: string, draft: string | null, activity: 'active' | 'idle'): void {
    const wanted = this.wanted.get(channel)
    if (wanted === undefined || (wanted.draft === draft && wanted.activity === activity)) return
    wanted.draft = draft
    wanted.activity = activity
    this.send({ type: 'presence', id: this.nextId++, channel, draft, state: activity })
  }

  private open(): void {
    if (this.stopped || this.ws !== null) return
    this.setState('connecting')
    const ws = new WebSocket(this.url())
    this.ws = ws
    this.nextId = 1
    ws.onmessage = (msg) => {
      if (this.ws === ws && typeof msg.data === 'string') this.receive(JSON.parse(msg.data) as Record<string, unknown>)
    }
    ws.onclose = (close) => {
      if (this.ws !== ws) return
      this.ws = null
      for (const channel of [...this.active]) this.setActive(channel, false)
      if (AUTH_CLOSES.has(close.code)) {
        this.stopped = true
        this.setState('offline')
        for (const fn of this.listeners.signout) fn()
        return
      }
      this.setState(this.stopped ? 'offline' : 'connecting')
      if (this.stopped || NO_RECONNECT.has(close.code)) return
      this.attempts++
      const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.attempts) * (0.5 + Math.random() / 2)
      this.timer = window.setTimeout(() => this.open(), delay)
    }
  }

  private receive(frame: Record<string, unknown>): void {
    switch (frame.type) {
      case 'welcome':
        this.attempts = 0
        this.setState('connected')
        for (const channel of this.wanted.keys()) this.sendSubscribe(channel)
        break
      case 'subscribed':
        this.subscribed(frame)
        break
      case 'event': {
        const channel = frame.channel as string
        const wanted = this.wanted.get(channel)
        if (wanted === undefined) return
        wanted.since = { epoch: frame.epoch as string, offset: frame.offset as number }
        const event: LiveEvent = { channel, event: frame.event as string, at: frame.at as number, data: frame.data }
        for (const fn of this.listeners.event) fn(event)
        break
      }
      case 'reset': {
        const wanted = this.wanted.get(frame.channel as string)
        if (wanted === undefined) return
        wanted.since = { epoch: frame.epoch as string, offset: frame.offset as number }
        for (const fn of this.listeners.reload) fn(frame.channel as string)
        break
      }
      case 'presence':
        for (const fn of this.listeners.presence) fn(frame as unknown as PresenceFrame)
        break
      case 'unsubscribed':
        if (frame.id === null) this.wanted.delete(frame.channel as string)
        this.setActive(frame.channel as string, false)
        break
      case 'error':
        // A refused subscription (forbidden, unknown channel) is not retried.
        if (typeof frame.channel === 'string' && frame.code !== 'unavailable') this.wanted.delete(frame.channel)
        break
    }
  }

  private subscribed(frame: Record<string, unknown>): void {
    const channel = frame.channel as string
    const wanted = this.wanted.get(channel)
    if (wanted === undefined) return
    // Events follow from offset + 1 (with `recovered: true`, the missed ones first).
    wanted.since = { epoch: frame.epoch as string, offset: frame.offset as number }
    this.setActive(channel, true)
    if (frame.recovered === false) {
      for (const fn of this.listeners.reload) fn(channel)
    }
    if (wanted.presence && wanted.draft !== null) {
      this.send({ type: 'presence', id: this.nextId++, channel, draft: wanted.draft, state: wanted.activity })
    }
  }

  private sendSubscribe(channel: string): void {
    const wanted = this.wanted.get(channel)
    if (wanted === undefined) return
    const command: Record<string, unknown> = { type: 'subscribe', id: this.nextId++, channel }
    if (channel.startsWith('room:')) command.presence = wanted.presence
    if (wanted.since !== null) command.since = wanted.since
    this.send(command)
  }

  private send(command: Record<string, unknown>): void {
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.state === 'connected') {
      this.ws.send(JSON.stringify(command))
    }
  }

  private setActive(channel: string, on: boolean): void {
    if (on === this.active.has(channel)) return
    if (on) this.active.add(channel)
    else this.active.delete(channel)
    for (const fn of this.listeners.channels) fn(this.active)
  }

  private setState(state: LiveState): void {
    if (state === this.state) return
    this.state = state
    for (const fn of this.listeners.state) fn(state)
  }
}
