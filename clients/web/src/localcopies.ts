/**
 * The drafts this browser keeps for a user (IndexedDB databases named
 * `tongpin/{user}/{session}/{draft}`, written by `draft.ts`): listed with
 * their pending count, and deleted on sign-out so that the next person at a
 * shared computer cannot read them. A copy is deleted only when the hub has
 * every edit in it (pending 0), or when the user says so.
 */

import { localCopyName } from './draft'

export interface LocalCopy {
  name: string
  session: string
  draft: string
  /** Edits in this copy the hub has not confirmed storing (the count `draft.ts` keeps under `pending`). */
  pending: number
}

const PENDING_KEY = 'pending'
const CUSTOM_STORE = 'custom'
/** How long a deletion may wait for another tab to close the copy before we stop waiting (it still happens then). */
const DELETE_WAIT_MS = 3_000

/** Whether this browser can list its databases (without it, copies cannot be found to delete). */
export function canListCopies(): boolean {
  return typeof indexedDB !== 'undefined' && typeof indexedDB.databases === 'function'
}

/** Every copy this browser keeps for `user`, with its pending count. */
export async function localCopies(user: string): Promise<LocalCopy[]> {
  if (!canListCopies()) return []
  const prefix = localCopyName(user, '', '').replace(/\/\/$/, '/')
  let names: string[]
  try {
    names = (await indexedDB.databases()).map((d) => d.name ?? '').filter((n) => n.startsWith(prefix))
  } catch {
    return [] // storage blocked: nothing can be listed (nor was anything kept)
  }
  const copies: LocalCopy[] = []
  for (const name of names) {
    const [session = '', draft = ''] = name.slice(prefix.length).split('/')
    copies.push({ name, session, draft, pending: await pendingOf(name) })
  }
  return copies
}

/** The pending count stored in a copy (0 when it has none; a copy deleted meanwhile is not recreated). */
function pendingOf(name: string): Promise<number> {
  return new Promise((resolve) => {
    const request = indexedDB.open(name)
    request.onupgradeneeded = () => request.transaction?.abort() // it was deleted meanwhile: do not recreate it
    request.onerror = () => resolve(0)
    request.onsuccess = () => {
      const db = request.result
      try {
        if (!db.objectStoreNames.contains(CUSTOM_STORE)) {
          db.close()
          resolve(0)
          return
        }
        const get = db.transaction(CUSTOM_STORE, 'readonly').objectStore(CUSTOM_STORE).get(PENDING_KEY)
        get.onsuccess = () => {
          db.close()
          resolve(typeof get.result === 'number' && get.result > 0 ? get.result : 0)
        }
        get.onerror = () => {
          db.close()
          resolve(0)
        }
      } catch {
        db.close()
        resolve(0)
      }
    }
  })
}

/** Delete copies by name; resolves when done (or after a short wait if another tab still holds one open). */
export async function forgetCopies(names: string[]): Promise<void> {
  await Promise.all(
    names.map(
      (name) =>
        new Promise<void>((resolve) => {
          const request = indexedDB.deleteDatabase(name)
          const timer = window.setTimeout(resolve, DELETE_WAIT_MS)
          const done = (): void => {
            window.clearTimeout(timer)
            resolve()
          }
          request.onsuccess = done
          request.onerror = done
        }),
    ),
  )
}
