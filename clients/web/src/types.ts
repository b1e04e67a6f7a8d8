/** The shapes of the hub's JSON that the client reads (fields it does not read are left out). */

export interface User {
  id: string
  name: string
  unit: string
  roles: string[]
  may_edit: boolean
}

export interface Unit {
  code: string
  name_zh: string
  name_en: string
  kind: string
}

export interface Session {
  id: string
  title: string
  owner_unit: string
  member_units: string[]
  status?: string
  drafts_count?: number
}

export interface Draft {
  session: string
  name: string
  title: string
  lead_unit?: string
  review?: { status: string; level?: number | null }
}

export type Recipient = { unit: string } | { user: string }

export interface Receipt {
  id: string
  recipient: Recipient
  status: string
  reason?: string | null
}

export interface Task {
  id: string
  title: string
  body?: string
  priority?: string
  status?: string
  deadline_at?: number | null
  created_by?: string
  assigner?: string
  session?: string | null
  receipts?: Receipt[]
  receipt?: Receipt
}

export interface Topic {
  id: string
  title: string
  unit: string
  status: string
  angle?: string
  proposed_date?: string
  session?: string | null
  draft?: string | null
  merged_into?: string | null
  created_at?: number
  updated_at?: number
  history?: { at: number; actor: string; action: string; reason: string }[]
}

export interface Alert {
  id: string
  title: string
  severity?: string
  unit?: string | null
  status?: string
  url?: string
  created_at?: number
}

export interface Duty {
  current?: { unit: string; since_at?: number; until_at?: number } | null
  next?: { unit: string; since_at?: number } | null
}

export interface Version {
  id: string
  kind: string
  level?: number | null
  created_at: number
  created_by?: string
}

export interface PresenceUser {
  name: string
  unit: string
  roles: string[]
  state: 'active' | 'idle'
  sessions: { id: string; draft: string | null; state: 'active' | 'idle' }[]
}
