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
  signout_pending_title: ['还有修改未存到服务器', 'Some edits are not stored on the hub yet'],
  signout_pending_text: [
    '以下稿件在本机保存的副本中有修改尚未存到服务器。退出时会删除本机已同步的副本；保留的副本在公用电脑上可能被他人读取。',
    "This browser's copies of these drafts hold edits the hub has not stored. Signing out deletes the copies that are synced; a copy kept here could be read by the next person on a shared computer.",
  ],
  signout_copy: ['{session} / {draft}：{n} 处修改待同步', '{session} / {draft}: {n} edits pending'],
  signout_sync: ['同步后退出', 'Sync, then sign out'],
  signout_keep: ['保留本机副本并退出', 'Keep the copies and sign out'],
  signout_syncing: ['正在同步…', 'Syncing…'],
  signout_sync_failed: ['还有 {n} 篇稿件未能同步，请检查网络后重试，或保留副本退出', '{n} drafts could not be synced: check the connection and try again, or keep the copies'],
  signout_offline: ['当前离线：联网后才能同步', 'Offline: syncing needs a connection'],
  // connection
  conn_connected: ['已连接', 'Connected'],
  conn_saving: ['已连接 · {n} 处修改保存中', 'Connected · saving {n} edits'],
  conn_reconnecting: ['正在重连…', 'Reconnecting…'],
  conn_reconnecting_pending: ['正在重连 · {n} 处本地修改待同步', 'Reconnecting · {n} local edits pending'],
  conn_offline: ['离线', 'Offline'],
  conn_offline_pending: ['离线 · {n} 处本地修改待同步', 'Offline · {n} local edits pending'],
  conn_closed: ['连接已被服务端关闭（{code}）', 'The hub closed the connection ({code})'],
  conn_kept: ['（已存于本机，关闭页面也不会丢失）', '(kept in this browser: safe to close the tab)'],
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
  pending_title: ['待处理报题', 'Topics awaiting decision'],
  pending_session: ['通过后进入策划会', 'Approve into session'],
  pending_no_session: ['没有进行中的策划会：请到策划会的报题看板处理', "No open planning session: decide on a session's topic board"],
  pending_board: ['打开报题看板', 'Open the topic board'],
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
  task_receipt_updated: ['{who}{status}：{title}', '{who} {status}: {title}'],
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
  status_level_1: ['一审中', 'at level 1'],
  status_level_2: ['二审中', 'at level 2'],
  status_level_3: ['三审中', 'at level 3'],
  status_new: ['新', 'new'],
  status_resolved: ['已处理', 'resolved'],
  status_dismissed: ['已忽略', 'dismissed'],
  // roles (rooms/directory.py: Role)
  role_reporter: ['记者', 'reporter'],
  role_editor: ['编辑', 'editor'],
  role_duty_editor: ['值班编辑', 'duty editor'],
  role_reviewer_1: ['一审', 'first-level reviewer'],
  role_reviewer_2: ['二审', 'second-level reviewer'],
  role_reviewer_3: ['三审', 'third-level reviewer'],
  role_chief_editor: ['总编辑', 'chief editor'],
  role_commander: ['指挥中心', 'commander'],
  role_monitor: ['舆情监测', 'monitor'],
  role_viewer: ['只读用户', 'viewer'],
  role_admin: ['平台管理员', 'administrator'],
  roles_label: ['角色', 'Roles'],
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
  topic_reject: ['不予采用', 'Reject'],
  topic_merge: ['合并', 'Merge'],
  topic_merge_into: ['合并到', 'Merge into'],
  topic_merged_into: ['已合并到“{title}”', 'Merged into "{title}"'],
  topic_resubmit: ['重新报题', 'Resubmit'],
  topic_withdraw: ['撤回', 'Withdraw'],
  topic_submit: ['报题', 'Submit'],
  topic_history: ['处理记录', 'History'],
  topic_step: ['{actor}：{action}', '{actor}: {action}'],
  topic_open_draft: ['打开稿件', 'Open the draft'],
  reason_label: ['理由', 'Reason'],
  reason_required: ['“{action}”需要填写理由', '"{action}" needs a reason'],
  topic_changed: ['报题“{title}”：{status}', 'Topic "{title}": {status}'],
  dispatch_title: ['派单', 'Dispatch'],
  task_accept: ['接受', 'Accept'],
  task_decline: ['拒绝', 'Decline'],
  task_complete: ['完成任务', 'Complete'],
  task_cancel: ['取消任务', 'Cancel the task'],
  task_reassign: ['转派', 'Reassign'],
  task_reassign_legend: ['转派一个接收方', 'Reassign one recipient'],
  task_reassign_receipt: ['接收方', 'Recipient'],
  task_reassign_unit: ['转给单位', 'To unit'],
  task_reassign_user: ['或转给个人（用户名，可选）', 'Or to a person (user id, optional)'],
  task_manage: ['处理派单', 'Manage the task'],
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
  review_event: ['审核：“{title}”{status}', 'Review: "{title}" {status}'],
  versions_title: ['版本记录', 'Version history'],
  version_restore: ['恢复为新稿', 'Restore as a new draft'],
  version_restore_label: ['将版本 {id} 恢复为新稿', 'Restore version {id} as a new draft'],
  version_view_label: ['查看版本 {id}', 'View version {id}'],
  version_restored: ['已从版本 {id} 新建稿件“{title}”', 'Version {id} restored as the new draft "{title}"'],
  diff_title: ['比较两个版本', 'Compare two versions'],
  diff_from: ['从', 'From'],
  diff_to: ['到', 'To'],
  diff_compare: ['比较', 'Compare'],
  diff_current: ['当前稿', 'the document now'],
  diff_heading: ['{from} → {to} 的改动', 'Changes from {from} to {to}'],
  diff_summary: ['新增 {added} 行，删除 {removed} 行', '{added} lines added, {removed} removed'],
  diff_same: ['两个版本相同', 'The two are the same'],
  diff_added_line: ['新增：', 'added: '],
  diff_removed_line: ['删除：', 'removed: '],
  version_view: ['查看', 'View'],
  version_kind_pin: ['送审版本', 'pinned for review'],
  version_kind_published: ['发布版本', 'published'],
  version_pinned_view: ['版本 {id}（{kind}）', 'Version {id} ({kind})'],
  // navigation
  nav_label: ['主导航', 'Main'],
  nav_home: ['工作台', 'Desk'],
  nav_stats: ['考核统计', 'Assessment'],
  nav_monitor: ['舆情监测', 'Monitor'],
  actor_system: ['系统', 'system'],
  // assessment
  stats_title: ['考核统计', 'Assessment statistics'],
  stats_results: ['各单位统计', 'Statistics by unit'],
  stats_caption: ['{from} 至 {to}（城市时间）', '{from} to {to} (city time)'],
  stats_from: ['开始日期', 'From'],
  stats_to: ['结束日期', 'To'],
  stats_unit: ['单位', 'Unit'],
  stats_all_units: ['全部单位', 'All units'],
  stats_show: ['查询', 'Show'],
  stats_csv: ['下载 CSV', 'Download CSV'],
  stats_tasks_received: ['收到派单', 'Tasks received'],
  stats_tasks_on_time: ['按时确认', 'Acknowledged on time'],
  stats_on_time_rate: ['按时率', 'On-time rate'],
  stats_ack_median: ['确认用时中位数（分钟）', 'Median time to acknowledge (min)'],
  stats_topics_submitted: ['报题数', 'Topics submitted'],
  stats_topics_adopted: ['采用数', 'Topics adopted'],
  stats_drafts_published: ['发稿数', 'Drafts published'],
  stats_review_median: ['审核用时中位数（分钟）', 'Median review time (min)'],
  // monitor
  monitor_title: ['舆情监测', 'Opinion monitor'],
  alert_filter: ['按状态筛选', 'Filter by status'],
  alert_all: ['全部', 'All'],
  alert_acknowledge: ['确认', 'Acknowledge'],
  alert_assign: ['转为任务', 'Assign'],
  alert_assign_as: ['转为', 'Assign as'],
  alert_as_topic: ['本单位报题', 'a topic report of my unit'],
  alert_as_task: ['派单给所属单位', "a task for the alert's unit"],
  alert_resolve: ['已处理', 'Resolve'],
  alert_dismiss: ['忽略', 'Dismiss'],
  alert_matched: ['命中：{words}', 'Matched: {words}'],
  alert_topic: ['已报题 #{id}', 'Topic report #{id}'],
  alert_task: ['已派单 #{id}', 'Task #{id}'],
  severity_low: ['低', 'low'],
  severity_medium: ['中', 'medium'],
  severity_high: ['高', 'high'],
  sources_title: ['信息源', 'Sources'],
  health_ok: ['正常', 'healthy'],
  health_failing: ['抓取失败', 'failing'],
  health_pending: ['待抓取', 'pending'],
  source_disabled: ['已停用', 'disabled'],
  source_last_success: ['上次成功：{time}', 'Last success: {time}'],
  source_never: ['尚未成功抓取', 'Never fetched successfully'],
  source_failures: ['连续失败 {n} 次', '{n} failures in a row'],
  source_last_error: ['上次错误：{error}（{time}）', 'Last error: {error} ({time})'],
  rules_title: ['监测规则', 'Rules'],
  rule_new: ['新建规则', 'New rule'],
  rule_editing: ['编辑规则“{name}”', 'Editing rule "{name}"'],
  rule_name: ['规则名称', 'Name'],
  rule_any_label: ['任一关键词（用逗号或顿号分隔）', 'Any of these keywords (comma-separated)'],
  rule_all_label: ['须全部包含', 'All of these keywords'],
  rule_none_label: ['排除关键词', 'None of these keywords'],
  rule_any: ['任一', 'any'],
  rule_all: ['全部', 'all'],
  rule_none: ['排除', 'none'],
  rule_severity: ['级别', 'Severity'],
  rule_enabled: ['启用', 'Enabled'],
  rule_disabled: ['已停用', 'disabled'],
  rule_create: ['创建规则', 'Create rule'],
  rule_save: ['保存修改', 'Save changes'],
  rule_cancel: ['取消编辑', 'Cancel editing'],
  rule_edit: ['编辑', 'Edit'],
  rule_edit_label: ['编辑规则“{name}”', 'Edit rule "{name}"'],
  rule_saved: ['规则已保存：{name}', 'Rule saved: {name}'],
  rule_regions: ['地名关键词 → 单位（命中地名时预警归该单位）', 'Place keywords → unit (an alert naming the place goes to that unit)'],
  rule_region_add: ['添加地名', 'Add a place'],
  rule_region_place: ['地名', 'Place'],
  rule_region_unit: ['单位', 'Unit'],
  rule_region_remove: ['移除', 'Remove'],
  rule_region_remove_label: ['移除地名“{place}”', 'Remove the place "{place}"'],
  rule_regions_shown: ['地名：{places}', 'Places: {places}'],
  rule_unit_names: ['同时按各镇街单位名称识别地名', 'Also recognise places by the units\' names'],
  source_new: ['新建信息源', 'New source'],
  source_editing: ['编辑信息源“{name}”', 'Editing source "{name}"'],
  source_create: ['创建信息源', 'Create source'],
  source_url: ['订阅地址（RSS、Atom 或 JSON Feed 的 http/https 网址）', 'Feed URL (RSS, Atom or JSON Feed; http or https)'],
  source_name: ['名称（可选，默认取网址的主机名）', 'Name (optional: the host name by default)'],
  source_interval: ['抓取间隔（秒，1–86400，默认 300）', 'Fetch interval (seconds, 1–86400; default 300)'],
  source_timeout: ['超时（秒，0.5–60，默认 10）', 'Timeout (seconds, 0.5–60; default 10)'],
  source_timing: ['每 {interval} 秒抓取 · 超时 {timeout} 秒', 'Every {interval} s · timeout {timeout} s'],
  source_edit_label: ['编辑信息源“{name}”', 'Edit source "{name}"'],
  source_saved: ['信息源已保存：{name}', 'Source saved: {name}'],
  edit: ['编辑', 'Edit'],
  delete: ['删除', 'Delete'],
  delete_label: ['删除“{name}”', 'Delete "{name}"'],
  delete_ask: ['确定删除“{name}”？', 'Delete "{name}"?'],
  delete_confirm: ['确定删除', 'Yes, delete'],
  cancel: ['取消', 'Cancel'],
  deleted: ['已删除：{name}', 'Deleted: {name}'],
  // notifications
  notifications: ['通知', 'Notifications'],
  alert_changed: ['预警“{title}”：{status}', 'Alert "{title}": {status}'],
  alert_new: ['预警：{title}', 'Alert: {title}'],
  duty_handover: ['值班交接：{unit}', 'Duty handover: {unit}'],
  event_generic: ['新消息：{event}', 'New event: {event}'],
  dismiss: ['知道了', 'Dismiss'],
  notes_bell: ['通知', 'Notifications'],
  notes_bell_unread: ['通知：{n} 条未读', 'Notifications: {n} unread'],
  notes_unread: ['未读：', 'Unread:'],
  notes_more: ['还有 {n} 条通知', '{n} more notifications'],
  notes_read_all: ['全部标为已读', 'Mark all read'],
  notes_clear: ['清空', 'Clear'],
  notes_none: ['暂无通知', 'No notifications'],
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

/** A role's name if the dictionary has one, else the role as the hub sent it. */
export function role(value: string): string {
  const key = `role_${value}`
  return key in WORDS ? t(key as Key) : value
}

/** Several roles, named and joined the way the current language lists things. */
export function roles(values: readonly string[]): string {
  return values.map(role).join(current === 'en' ? ', ' : '、')
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
