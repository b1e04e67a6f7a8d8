/**
 * The interface's words, Chinese (zh-CN) first, English second.
 *
 * Each entry is `key: [zh-CN, en]`; `{name}` placeholders are filled by `t`.
 * Static text carries `data-i18n` (see `tx`) and is relabelled in place on a
 * switch; views with counts or names re-render on `onLangChange`.
 */

export type Lang = 'zh-CN' | 'en'

const WORDS = {
  app_name: ['同频', 'Tongpin'],
  skip: ['跳到正文', 'Skip to content'],
  switch_lang: ['English', '中文'],
  switch_lang_label: ['Switch to English', '切换到中文'],
  sign_out: ['退出', 'Sign out'],
  home: ['首页', 'Home'],
  loading: ['加载中…', 'Loading…'],
  empty: ['暂无', 'Nothing here'],
  not_available: ['暂无数据，或本服务尚未提供（{path}）', 'Nothing here, or not on this hub yet ({path})'],
  failed: ['加载失败：{message}', 'Could not load: {message}'],
  retry: ['重试', 'Retry'],
  close: ['关闭', 'Close'],
  // sign-in
  signin_title: ['登录', 'Sign in'],
  signin_dev: ['开发环境登录：选择一位演示用户', 'Development sign-in: pick a demo user'],
  signin_user: ['用户', 'User'],
  signin_button: ['登录', 'Sign in'],
  signin_token: ['粘贴令牌', 'Paste a token'],
  signin_token_label: ['访问令牌（JWT）', 'Access token (JWT)'],
  signin_token_button: ['使用令牌登录', 'Sign in with token'],
  signin_bad_token: ['令牌无效或已过期', 'The token is invalid or expired'],
  signin_expired: ['登录已失效，请重新登录', 'Your sign-in ended; please sign in again'],
  // connection
  conn_connected: ['已连接', 'Connected'],
  conn_saving: ['已连接 · {n} 处修改保存中', 'Connected · saving {n} edits'],
  conn_reconnecting: ['正在重连…', 'Reconnecting…'],
  conn_reconnecting_pending: ['正在重连 · {n} 处本地修改待同步', 'Reconnecting · {n} local edits pending'],
  conn_offline: ['离线', 'Offline'],
  conn_offline_pending: ['离线 · {n} 处本地修改待同步', 'Offline · {n} local edits pending'],
  conn_closed: ['连接已被服务端关闭（{code}）', 'The hub closed the connection ({code})'],
  conn_label: ['连接状态', 'Connection status'],
  // home
  home_title: ['工作台', 'Desk'],
  sessions_title: ['我的策划会', 'My planning sessions'],
  sessions_rooms_note: ['（策划会接口未上线，显示本单位可进入的房间）', '(sessions API not available; showing the rooms your unit may open)'],
  session_owner: ['主办：{unit}', 'Owner: {unit}'],
  session_members: ['{n} 个成员单位', '{n} member units'],
  session_drafts: ['{n} 篇稿件', '{n} drafts'],
  inbox_title: ['本单位收件箱', "My unit's inbox"],
  sent_title: ['我发出的派单', 'Tasks I sent'],
  topics_title: ['报题状态', 'Topic reports'],
  duty_title: ['值班单位', 'Unit on duty'],
  duty_current: ['当前值班：{unit}', 'On duty now: {unit}'],
  duty_next: ['下一班：{unit}', 'Next: {unit}'],
  duty_until: ['至 {time}', 'until {time}'],
  alerts_title: ['近期预警', 'Recent alerts'],
  // tasks
  task_deadline: ['截止 {time}', 'Due {time}'],
  task_ack: ['确认收到', 'Acknowledge'],
  task_acked: ['已确认', 'Acknowledged'],
  task_new: ['新派单：{title}', 'New task: {title}'],
  task_escalated: ['派单逾期未确认：{title}', 'Task overdue, not acknowledged: {title}'],
  task_receipt: ['{who}：{status}', '{who}: {status}'],
  task_receipt_updated: ['{who} 已{status}：{title}', '{who} {status}: {title}'],
  priority_low: ['低', 'low'],
  priority_normal: ['普通', 'normal'],
  priority_high: ['高', 'high'],
  priority_urgent: ['紧急', 'urgent'],
  status_delivered: ['已送达', 'delivered'],
  status_read: ['已读', 'read'],
  status_acknowledged: ['已确认', 'acknowledged'],
  status_accepted: ['已接受', 'accepted'],
  status_declined: ['已拒绝', 'declined'],
  status_reassigned: ['已转派', 'reassigned'],
  status_open: ['进行中', 'open'],
  status_completed: ['已完成', 'completed'],
  status_cancelled: ['已取消', 'cancelled'],
  status_scheduled: ['未开始', 'scheduled'],
  status_closed: ['已结束', 'closed'],
  status_archived: ['已归档', 'archived'],
  status_submitted: ['已提交', 'submitted'],
  status_approved: ['已通过', 'approved'],
  status_returned: ['已退回', 'returned'],
  status_merged: ['已合并', 'merged'],
  status_rejected: ['已否决', 'rejected'],
  status_withdrawn: ['已撤回', 'withdrawn'],
  status_editing: ['编辑中', 'editing'],
  status_published: ['已发布', 'published'],
  status_level_2: ['二审中', 'at level 2'],
  status_level_3: ['三审中', 'at level 3'],
  status_new: ['新', 'new'],
  status_resolved: ['已处理', 'resolved'],
  status_dismissed: ['已忽略', 'dismissed'],
  // session page
  back_home: ['返回工作台', 'Back to the desk'],
  drafts_title: ['稿件', 'Drafts'],
  draft_open: ['打开稿件', 'Open draft'],
  draft_name: ['稿件名（字母、数字、_ -）', 'Draft name (letters, digits, _ -)'],
  draft_new: ['新建稿件', 'New draft'],
  draft_title_label: ['标题', 'Title'],
  draft_create: ['创建', 'Create'],
  drafts_fallback: ['（稿件接口未上线：按名称打开稿件）', '(drafts API not available: open a draft by name)'],
  draft_current: ['当前稿件', 'current draft'],
  editor_label: ['稿件正文：{title}', 'Draft text: {title}'],
  editor_readonly: ['只读：你的角色不能编辑', 'Read-only: your role may not edit'],
  editor_pick: ['请选择一篇稿件', 'Pick a draft'],
  tool_bold: ['加粗', 'Bold'],
  tool_italic: ['斜体', 'Italic'],
  tool_heading: ['标题', 'Heading'],
  tool_list: ['列表', 'List'],
  tool_undo: ['撤销', 'Undo'],
  tool_redo: ['重做', 'Redo'],
  toolbar: ['格式', 'Formatting'],
  presence_title: ['在线成员', 'Who is here'],
  presence_active: ['活跃', 'active'],
  presence_idle: ['空闲', 'idle'],
  presence_in: ['在 {draft}', 'in {draft}'],
  presence_summary: ['{users} 人在线（{active} 活跃）', '{users} people ({active} active)'],
  presence_you: ['（你）', '(you)'],
  board_title: ['报题看板', 'Topic board'],
  topic_approve: ['通过并建稿', 'Approve into this session'],
  topic_return: ['退回', 'Return'],
  topic_reason: ['理由', 'Reason'],
  topic_changed: ['报题“{title}”：{status}', 'Topic "{title}": {status}'],
  dispatch_title: ['派单', 'Dispatch'],
  dispatch_form: ['新建派单', 'New task'],
  dispatch_task_title: ['任务', 'Task'],
  dispatch_body: ['说明', 'Details'],
  dispatch_priority: ['优先级', 'Priority'],
  dispatch_deadline: ['截止时间', 'Deadline'],
  dispatch_to: ['派给单位', 'To units'],
  dispatch_send: ['派出', 'Send'],
  dispatch_sent: ['已派出：{title}', 'Sent: {title}'],
  review_title: ['审核', 'Review'],
  review_status: ['状态：{status}', 'Status: {status}'],
  review_level: ['第 {n} 审', 'level {n}'],
  review_submit: ['提交审核', 'Submit for review'],
  review_pass: ['通过', 'Pass'],
  review_return: ['退回修改', 'Return'],
  review_reject: ['否决', 'Reject'],
  review_publish: ['发布', 'Publish'],
  review_pin: ['重新锁定版本', 'Pin again'],
  review_stale: ['送审后有修改，需重新锁定', 'edited since pinned: pin again'],
  review_view_pin: ['查看送审版本', 'View the pinned version'],
  review_changes: ['送审后的改动', 'Changes since the pin'],
  review_history: ['审核记录', 'Review history'],
  review_comment: ['审核意见', 'Comment'],
  review_event: ['审核：{event}', 'Review: {event}'],
  versions_title: ['版本记录', 'Version history'],
  version_view: ['查看', 'View'],
  version_kind_pin: ['送审版本', 'pinned for review'],
  version_kind_published: ['发布版本', 'published'],
  version_pinned_view: ['版本 {id}（{kind}）', 'Version {id} ({kind})'],
  // notifications
  notifications: ['通知', 'Notifications'],
  alert_new: ['预警：{title}', 'Alert: {title}'],
  duty_handover: ['值班交接：{unit}', 'Duty handover: {unit}'],
  event_generic: ['新消息：{event}', 'New event: {event}'],
  dismiss: ['知道了', 'Dismiss'],
  action_failed: ['操作失败：{message}', 'Action failed: {message}'],
} as const satisfies Record<string, readonly [string, string]>

export type Key = keyof typeof WORDS

const STORAGE_KEY = 'tongpin.lang'
const listeners = new Set<() => void>()
let current: Lang = localStorage.getItem(STORAGE_KEY) === 'en' ? 'en' : 'zh-CN'

export function lang(): Lang {
  return current
}

/** The word for `key` in the current language, `{name}`s filled from `params`. */
export function t(key: Key, params: Record<string, string | number> = {}): string {
  const text: string = WORDS[key][current === 'en' ? 1 : 0]
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole))
}

/** A status word if the dictionary has one, else the status as the hub sent it. */
export function status(value: string): string {
  const key = `status_${value}`
  return key in WORDS ? t(key as Key) : value
}

/** Static text: `el` shows `key`, and follows language switches. */
export function tx<E extends HTMLElement>(el: E, key: Key, attr?: string): E {
  if (attr === undefined) {
    el.dataset.i18n = key
    el.textContent = t(key)
  } else {
    el.dataset[`i18n${attr.replace(/(^|-)(\w)/g, (_, _d, c: string) => c.toUpperCase())}`] = key
    el.setAttribute(attr, t(key))
  }
  return el
}

const ATTRS = ['aria-label', 'placeholder', 'title']

function relabel(root: ParentNode): void {
  for (const el of root.querySelectorAll<HTMLElement>('[data-i18n]')) el.textContent = t(el.dataset.i18n as Key)
  for (const attr of ATTRS) {
    const prop = `i18n${attr.replace(/(^|-)(\w)/g, (_, _d, c: string) => c.toUpperCase())}`
    const selector = `[data-${`i18n-${attr}`}]`
    for (const el of root.querySelectorAll<HTMLElement>(selector)) el.setAttribute(attr, t(el.dataset[prop] as Key))
  }
}

export function setLang(next: Lang): void {
  current = next
  localStorage.setItem(STORAGE_KEY, next)
  document.documentElement.lang = next
  relabel(document)
  for (const fn of listeners) fn()
}

export function onLangChange(fn: () => void): () => void {
  listeners.add(fn)
  return () => listeners.delete(fn)
}

document.documentElement.lang = current
