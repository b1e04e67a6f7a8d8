/** Entry point: styles, then the application shell. */

import './styles.css'
import { App } from './app'

const root = document.getElementById('app')
if (root === null) throw new Error('index.html has no #app')
void new App(root).start()
