/**
 * The hub's HTTP JSON API: one `request` with the bearer token, errors as `ApiError`.
 *
 * `optional` is for endpoints a hub may not have yet: a 404 or 405 for the
 * route itself answers `null`, and the page shows an empty state with a note.
 */

const TOKEN_KEY = 'tongpin.token'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY)
}

export function setToken(value: string | null): void {
  if (value === null) sessionStorage.removeItem(TOKEN_KEY)
  else sessionStorage.setItem(TOKEN_KEY, value)
}

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'

let onUnauthorized: () => void = () => {}

/** Called when the hub refuses the token (401): the app signs out. */
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn
}

export async function request<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  const bearer = token()
  if (bearer !== null) headers.Authorization = `Bearer ${bearer}`
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  } catch {
    throw new ApiError(0, 'network', 'the hub is not reachable')
  }
  const text = await response.text()
  let value: unknown = null
  try {
    value = text ? JSON.parse(text) : null
  } catch {
    value = null
  }
  if (!response.ok) {
    const error = (value as { error?: { code?: string; message?: string } } | null)?.error
    if (response.status === 401 && bearer !== null) onUnauthorized()
    throw new ApiError(response.status, error?.code ?? 'http_error', error?.message ?? response.statusText)
  }
  return value as T
}

export const get = <T>(path: string): Promise<T> => request<T>('GET', path)
export const post = <T>(path: string, body: unknown = {}): Promise<T> => request<T>('POST', path, body)

/** GET an endpoint that may not exist on this hub yet: `null` when its route is absent. */
export async function optional<T>(path: string): Promise<T | null> {
  try {
    return await get<T>(path)
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return null
    throw err
  }
}

/** A list answer: `{items, next}` per the API's conventions, or a bare array/field of older routes. */
export function itemsOf<T>(value: unknown, field = 'items'): T[] {
  if (Array.isArray(value)) return value as T[]
  if (value !== null && typeof value === 'object') {
    const list = (value as Record<string, unknown>)[field] ?? (value as Record<string, unknown>).items
    if (Array.isArray(list)) return list as T[]
  }
  return []
}
