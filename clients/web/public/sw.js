/*
 * The app shell's service worker: lets the page itself load while the hub
 * is unreachable, so a draft kept in this browser (IndexedDB) can be opened
 * and edited offline after a reload.
 *
 * Only the built page is cached: the document (network first, the cached
 * copy when the network fails) and its content-hashed assets (cache first:
 * a hashed name never changes content). Nothing else is touched: /api,
 * /live, /yjs, /hocuspocus and every other request go to the network as if
 * there were no worker. Each document fetched from the network replaces the
 * cached one, and assets it no longer names are dropped.
 */

const CACHE = 'tongpin-shell-1'
const scope = new URL(self.registration.scope)
const DOCUMENT = new URL('./', scope).href
const ASSETS = new URL('./assets/', scope).href

/** The asset URLs a document names (script and stylesheet). */
function assetsOf(html) {
  return [...html.matchAll(/(?:src|href)="\.?\/?(assets\/[^"]+)"/g)].map((m) => new URL(m[1], scope).href)
}

/** Store the document and the assets it names; drop assets it no longer names. */
async function keepShell(response) {
  const cache = await caches.open(CACHE)
  const html = await response.clone().text()
  const wanted = new Set(assetsOf(html))
  await cache.put(DOCUMENT, response)
  await Promise.all(
    [...wanted].map(async (url) => {
      if (await cache.match(url)) return
      const asset = await fetch(url, { cache: 'no-cache' })
      if (asset.ok) await cache.put(url, asset)
    }),
  )
  for (const request of await cache.keys()) {
    if (request.url.startsWith(ASSETS) && !wanted.has(request.url)) await cache.delete(request)
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    fetch(DOCUMENT, { cache: 'no-cache' })
      .then((response) => (response.ok ? keepShell(response) : undefined))
      .then(() => self.skipWaiting()),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith('tongpin-shell-') && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  )
})

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.method !== 'GET') return
  const url = new URL(request.url)
  if (url.origin !== scope.origin) return
  if (request.mode === 'navigate' && url.href.split('#')[0].split('?')[0] === DOCUMENT) {
    event.respondWith(
      fetch(request, { cache: 'no-cache' })
        .then((response) => {
          if (response.ok) event.waitUntil(keepShell(response.clone()))
          return response
        })
        .catch(async () => (await caches.match(DOCUMENT)) ?? Response.error()),
    )
  } else if (url.href.startsWith(ASSETS)) {
    event.respondWith(
      caches.match(url.href).then(
        (hit) =>
          hit ??
          fetch(request).then(async (response) => {
            if (response.ok) await (await caches.open(CACHE)).put(url.href, response.clone())
            return response
          }),
      ),
    )
  }
})
