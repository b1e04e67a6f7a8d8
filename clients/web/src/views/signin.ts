/** Sign-in: development sign-in (demo users by unit) when the hub offers it; a token paste field always. */

import type { App, View } from '../app'
import { ApiError, get, post, setToken } from '../api'
import { fill, h } from '../dom'
import { lang, onLangChange, roles, t, tx } from '../i18n'
import type { Unit, User } from '../types'

type DevUnit = Unit & { users: User[] }

export function signinView(app: App): View {
  const error = h('p', { class: 'error', role: 'alert' })
  const dev = h('div', { class: 'dev' })
  const paste = tokenForm(app, error)
  const section = h(
    'section',
    { class: 'card signin', 'aria-labelledby': 'signin-heading' },
    tx(h('h1', { id: 'signin-heading' }), 'signin_title'),
    dev,
    paste,
    error,
  )
  app.main.append(section)

  let units: DevUnit[] | null = null
  const paint = (): void => {
    if (units === null) return
    const select = h('select', { id: 'dev-user', name: 'user', required: true })
    for (const unit of units) {
      if (unit.users.length === 0) continue
      const group = h('optgroup', { label: lang() === 'en' ? unit.name_en : unit.name_zh })
      for (const user of unit.users) group.append(h('option', { value: user.id }, `${user.name} · ${roles(user.roles)} (${user.id})`))
      select.append(group)
    }
    const selected = dev.querySelector('select')?.value ?? sessionStorage.getItem('tongpin.last-user')
    if (selected !== null) select.value = selected
    const form = h(
      'form',
      { class: 'stack' },
      tx(h('p', {}), 'signin_dev'),
      tx(h('label', { for: 'dev-user' }), 'signin_user'),
      select,
      tx(h('button', { type: 'submit', class: 'primary' }), 'signin_button'),
    )
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault()
      error.textContent = ''
      try {
        const answer = await post<{ token: string }>('/api/dev/signin', { user: select.value })
        sessionStorage.setItem('tongpin.last-user', select.value)
        setToken(answer.token)
        await app.signedIn()
        await app.go('#/')
      } catch (err) {
        error.textContent = (err as Error).message
      }
    })
    fill(dev, form)
  }
  get<{ units: DevUnit[] }>('/api/dev/users').then(
    (answer) => {
      units = answer.units
      paint()
    },
    (err: unknown) => {
      paste.open = true // no development sign-in here: a token is the way in
      if (!(err instanceof ApiError) || err.status !== 404) error.textContent = (err as Error).message
    },
  )
  return onLangChange(paint)
}

function tokenForm(app: App, error: HTMLElement): HTMLDetailsElement {
  const input = h('textarea', { id: 'token', rows: 3, autocomplete: 'off', spellcheck: 'false', required: true })
  const form = h(
    'form',
    { class: 'stack' },
    tx(h('label', { for: 'token' }), 'signin_token_label'),
    input,
    tx(h('button', { type: 'submit' }), 'signin_token_button'),
  )
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    error.textContent = ''
    setToken(input.value.trim())
    try {
      await app.signedIn()
    } catch {
      setToken(null)
      error.textContent = t('signin_bad_token')
      return
    }
    await app.go('#/')
  })
  return h('details', { class: 'token' }, tx(h('summary', {}), 'signin_token'), form)
}
