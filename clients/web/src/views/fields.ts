/**
 * Errors said next to the field at fault. The API's refusals of a body
 * (4xx, `{"error": {"code", "message"}}`) start their message with the
 * field's name (`url: …`, `any, all: …`, `regions: …`); the message is shown
 * under each named field (`aria-invalid`, `aria-describedby`), and focus goes
 * to the first. A refusal naming no field of the form, or a failure that is
 * not a refusal (network, 5xx), is said once at the form's foot.
 */

import { ApiError } from '../api'
import { h } from '../dom'
import { t } from '../i18n'

export interface FieldErrors {
  /** The form's own error line (put it at the form's foot). */
  readonly summary: HTMLElement
  /** Forget every shown error. */
  clear(): void
  /** Show `err` where it belongs. */
  show(err: unknown): void
}

/** The field names a message starts with (`any, all: …` → `any`, `all`). */
export function namedFields(message: string): string[] {
  const match = /^\s*([a-z_]+(?:\s*,\s*[a-z_]+)*)\s*:/.exec(message)
  return match === null ? [] : match[1].split(',').map((name) => name.trim())
}

/**
 * `fields` maps an API field name to its control (an input, a select or a
 * fieldset); each gets an error line right after it.
 */
export function fieldErrors(id: string, fields: Record<string, HTMLElement>): FieldErrors {
  const lines = new Map<string, HTMLElement>()
  for (const [name, control] of Object.entries(fields)) {
    const line = h('p', { class: 'error field-error', id: `${id}-${name}-error`, 'data-error-for': name, role: 'alert' })
    control.after(line)
    const described = control.getAttribute('aria-describedby')
    control.setAttribute('aria-describedby', described ? `${described} ${line.id}` : line.id)
    lines.set(name, line)
  }
  const summary = h('p', { class: 'error field-error', id: `${id}-error`, role: 'alert' })
  const clear = (): void => {
    summary.textContent = ''
    for (const [name, line] of lines) {
      line.textContent = ''
      fields[name].removeAttribute('aria-invalid')
    }
  }
  return {
    summary,
    clear,
    show(err: unknown): void {
      clear()
      const message = (err as Error).message
      const refusal = err instanceof ApiError && err.status >= 400 && err.status < 500
      const named = refusal ? namedFields(message).filter((name) => lines.has(name)) : []
      if (named.length === 0) {
        summary.textContent = t('action_failed', { message })
        return
      }
      // Said once, under the first field it names; every field it names is marked invalid.
      lines.get(named[0])!.textContent = message
      for (const name of named) fields[name].setAttribute('aria-invalid', 'true')
      const first = fields[named[0]]
      const focusable = first.matches('input, select, textarea, button') ? first : first.querySelector<HTMLElement>('input, select, button')
      focusable?.focus()
    },
  }
}
