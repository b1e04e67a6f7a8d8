/**
 * Dispatch (派单): the session's task form, and the task lists of the desk
 * and the session page. A recipient acknowledges, accepts or declines (with
 * a reason) their receipt; the assigner (or a commander) reassigns a
 * receipt to another unit or person, cancels (with a reason) or completes
 * the task. Task and receipt events reload the lists, so the assigner sees
 * each answer as it comes.
 */

import type { App } from '../app'
import { statusWord } from '../app'
import { itemsOf, post } from '../api'
import { append, h, when } from '../dom'
import { type Key, lang, t, tx } from '../i18n'
import type { Recipient, Task } from '../types'
import { act, type Choice, decisionForm } from './actions'
import { list, panel } from './panel'

/** Receipt states a recipient may still answer in (rooms/workflow.py, RECEIPT). */
const ANSWERABLE = ['delivered', 'read', 'acknowledged']

export function dispatchPanel(app: App, sessionId: string, memberUnits: string[]): { section: HTMLElement; destroy(): void } {
  const form = dispatchForm(app, sessionId, memberUnits)
  const p = panel('dispatch', 'dispatch_title', form)
  const load = (): void =>
    void p.load<unknown>('/api/tasks?box=sent', (value) => {
      const tasks = itemsOf<Task>(value).filter((task) => task.session === sessionId)
      return taskList(app, tasks, false, load)
    })
  load()
  const stop = app.live.on('event', (e) => {
    if (e.event.startsWith('task.') || e.event.startsWith('receipt.')) load()
  })
  window.addEventListener('tongpin:refresh', load)
  return {
    section: p.section,
    destroy: () => {
      stop()
      window.removeEventListener('tongpin:refresh', load)
      p.destroy()
    },
  }
}

function dispatchForm(app: App, sessionId: string, memberUnits: string[]): HTMLElement {
  const title = h('input', { id: 'task-title', required: true, maxlength: 200 })
  const body = h('textarea', { id: 'task-body', rows: 2, maxlength: 2000 })
  const priority = h('select', { id: 'task-priority' })
  for (const value of ['low', 'normal', 'high', 'urgent']) {
    priority.append(h('option', { value, selected: value === 'normal' }, t(`priority_${value}` as Key)))
  }
  const deadline = h('input', { id: 'task-deadline', type: 'datetime-local', required: true })
  const units = h('fieldset', { class: 'units' }, tx(h('legend', {}), 'dispatch_to'))
  for (const code of memberUnits) {
    const id = `to-${code}`
    units.append(h('label', { for: id }, h('input', { type: 'checkbox', id, value: code, name: 'to' }), app.unitName(code)))
  }
  const form = h(
    'form',
    { class: 'stack' },
    tx(h('label', { for: 'task-title' }), 'dispatch_task_title'),
    title,
    tx(h('label', { for: 'task-body' }), 'dispatch_body'),
    body,
    tx(h('label', { for: 'task-priority' }), 'dispatch_priority'),
    priority,
    tx(h('label', { for: 'task-deadline' }), 'dispatch_deadline'),
    deadline,
    units,
    tx(h('button', { type: 'submit', class: 'primary' }), 'dispatch_send'),
  )
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const recipients = [...units.querySelectorAll<HTMLInputElement>('input:checked')].map((el) => ({ unit: el.value }))
    const sent = await act(app, () =>
      post('/api/tasks', {
        title: title.value.trim(),
        body: body.value.trim(),
        priority: priority.value,
        deadline_at: new Date(deadline.value).getTime() / 1000,
        recipients,
        session: sessionId,
      }),
    )
    if (sent) {
      app.notes.show({ kind: 'sent', title: t('dispatch_sent', { title: title.value.trim() }) })
      form.reset()
      window.dispatchEvent(new CustomEvent('tongpin:refresh'))
    }
  })
  return h('details', { class: 'dispatch-form' }, tx(h('summary', {}), 'dispatch_form'), form)
}

/** Tasks with their receipts: in the inbox, my receipt's answers; in the sent list, the assigner's actions. */
export function taskList(app: App, tasks: Task[], inbox: boolean, reload: () => void): HTMLElement | null {
  const refresh = (): void => {
    reload()
    window.dispatchEvent(new CustomEvent('tongpin:refresh'))
  }
  return list(tasks, (task) => {
    const row = h('div', { class: `task prio-${task.priority ?? 'normal'}`, 'data-task': task.id, 'data-task-status': task.status ?? '' })
    const priority = task.priority ? t(`priority_${task.priority}` as 'priority_normal') : ''
    append(
      row,
      h('span', { class: 'title' }, task.title),
      priority ? h('span', { class: `prio` }, priority) : '',
      task.status && task.status !== 'open' ? h('span', { class: `status s-${task.status}` }, statusWord(task.status)) : '',
      typeof task.deadline_at === 'number' ? h('span', { class: 'muted' }, t('task_deadline', { time: when(task.deadline_at, lang()) })) : '',
    )
    const base = `/api/tasks/${encodeURIComponent(task.id)}`
    if (inbox) {
      const mine = app.myReceipt(task)
      if (mine) {
        row.append(h('span', { class: `status s-${mine.status}`, 'data-receipt': mine.id }, statusWord(mine.status)))
        if (task.status !== 'cancelled' && task.status !== 'completed' && ANSWERABLE.includes(mine.status)) {
          const at = `${base}/receipts/${encodeURIComponent(mine.id)}`
          const choices: Choice[] = [
            { action: 'accept', key: 'task_accept', needsReason: false, primary: true, run: (reason) => post(`${at}/accept`, { reason }) },
            { action: 'decline', key: 'task_decline', needsReason: true, run: (reason) => post(`${at}/decline`, { reason }) },
          ]
          if (mine.status !== 'acknowledged') {
            choices.unshift({ action: 'acknowledge', key: 'task_ack', needsReason: false, run: (reason) => post(`${at}/acknowledge`, { reason }) })
          }
          row.append(decisionForm(app, `inbox-${task.id}`, choices, refresh))
        }
      }
      return row
    }
    const receipts = h('ul', { class: 'receipts' })
    for (const r of task.receipts ?? []) {
      receipts.append(
        h(
          'li',
          { 'data-receipt': r.id, 'data-status': r.status },
          t('task_receipt', { who: app.recipientName(r.recipient), status: statusWord(r.status) }),
          r.reason ? h('span', { class: 'reason' }, ` · ${r.reason}`) : '',
        ),
      )
    }
    row.append(receipts)
    const me = app.me!
    const mayManage = task.assigner === me.id || me.roles.includes('commander')
    if (mayManage && (task.status ?? 'open') === 'open') row.append(manageTask(app, task, base, refresh))
    return row
  })
}

/** The assigner's actions: reassign one receipt, cancel or complete the task. */
function manageTask(app: App, task: Task, base: string, done: () => void): HTMLElement {
  const id = `task-${task.id}`
  const live = (task.receipts ?? []).filter((r) => r.status !== 'reassigned')
  const receipt = h('select', { id: `${id}-receipt` })
  for (const r of live) receipt.append(h('option', { value: r.id }, app.recipientName(r.recipient)))
  const unit = h('select', { id: `${id}-unit` })
  for (const u of [...app.units.values()].sort((a, b) => a.code.localeCompare(b.code))) {
    unit.append(h('option', { value: u.code }, app.unitName(u.code)))
  }
  const user = h('input', { id: `${id}-user`, maxlength: 64, autocomplete: 'off', pattern: '[a-z0-9][a-z0-9_.-]{0,63}' })
  const to = (): Recipient => (user.value.trim() ? { user: user.value.trim() } : { unit: unit.value })
  const choices: Choice[] = [
    { action: 'complete', key: 'task_complete', needsReason: false, primary: true, run: (reason) => post(`${base}/complete`, { reason }) },
    { action: 'cancel', key: 'task_cancel', needsReason: true, run: (reason) => post(`${base}/cancel`, { reason }) },
  ]
  const extra: Node[] = []
  if (live.length > 0) {
    choices.push({
      action: 'reassign',
      key: 'task_reassign',
      needsReason: true,
      run: (reason) => post(`${base}/reassign`, { receipt: receipt.value, to: to(), reason }),
    })
    extra.push(
      h(
        'fieldset',
        { class: 'reassign' },
        tx(h('legend', {}), 'task_reassign_legend'),
        h('div', { class: 'field' }, tx(h('label', { for: receipt.id }), 'task_reassign_receipt'), receipt),
        h('div', { class: 'field' }, tx(h('label', { for: unit.id }), 'task_reassign_unit'), unit),
        h('div', { class: 'field' }, tx(h('label', { for: user.id }), 'task_reassign_user'), user),
      ),
    )
  }
  return h('details', { class: 'manage' }, tx(h('summary', {}), 'task_manage'), decisionForm(app, id, choices, done, ...extra))
}
