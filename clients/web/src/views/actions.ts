/**
 * Actions on workflow things: run one API call and report a failure as a
 * notification, and the decision form used by every state change that may
 * need a reason (topics, tasks, receipts, alerts). A required reason is
 * checked before anything is sent, and the refusal is said next to the field.
 */

import type { App } from '../app'
import { h } from '../dom'
import { type Key, t, tx } from '../i18n'

/** Run `run`; a failure becomes an error notification. Whether it succeeded. */
export async function act(app: App, run: () => Promise<unknown>): Promise<boolean> {
  try {
    await run()
    return true
  } catch (err) {
    app.notes.show({ kind: 'error', title: t('action_failed', { message: (err as Error).message }) })
    return false
  }
}

export function button(key: Key, onclick: () => void, primary = false): HTMLButtonElement {
  const b = tx(h('button', { type: 'button', class: primary ? 'primary' : '' }), key)
  b.addEventListener('click', onclick)
  return b
}

export interface Choice {
  action: string // a test handle (`data-action`) and the API step
  key: Key
  needsReason: boolean
  primary?: boolean
  run: (reason: string) => Promise<unknown>
}

/**
 * A reason field, optional extra fields, and one button per choice. `id`
 * must be unique on the page (it names the field). After a choice succeeds,
 * `done` runs (the list reloads; live events reload the others' views).
 */
export function decisionForm(app: App, id: string, choices: Choice[], done: () => void, ...extra: Node[]): HTMLElement {
  const fieldId = `${id}-reason`
  const errorId = `${id}-error`
  const reason = h('input', { id: fieldId, maxlength: 2000, 'aria-describedby': errorId, autocomplete: 'off' })
  const error = h('p', { class: 'error field-error', id: errorId, role: 'alert' })
  const buttons = h('div', { class: 'actions' })
  const form = h(
    'div',
    { class: 'decision', 'data-form': id },
    h('div', { class: 'field' }, tx(h('label', { for: fieldId }), 'reason_label'), reason),
    ...extra,
    buttons,
    error,
  )
  for (const choice of choices) {
    const b = button(choice.key, () => void decide(choice), choice.primary)
    b.dataset.action = choice.action
    buttons.append(b)
  }
  const decide = async (choice: Choice): Promise<void> => {
    const text = reason.value.trim()
    if (choice.needsReason && text === '') {
      reason.setAttribute('aria-invalid', 'true')
      error.textContent = t('reason_required', { action: t(choice.key) })
      reason.focus()
      return
    }
    reason.removeAttribute('aria-invalid')
    error.textContent = ''
    const all = [...buttons.querySelectorAll('button')]
    for (const b of all) b.disabled = true
    const ok = await act(app, () => choice.run(text))
    for (const b of all) b.disabled = false
    if (ok) done()
  }
  return form
}
