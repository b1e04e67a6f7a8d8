/** Entry point: styles, then the application shell. */

import './styles.css'
import { App } from './app'

const root = document.getElementById('app')
if (root === null) throw new Error('index.html has no #app')
void new App(root).start()

// The app shell's service worker (public/sw.js): the page loads while the hub is unreachable.
if ('serviceWorker' in navigator && window.isSecureContext) {
  navigator.serviceWorker.register('./sw.js').catch(() => {
    // Without it the page works as before; it just cannot be reloaded offline.
  })
}
