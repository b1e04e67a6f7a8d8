// The y-websocket reference server (npm @y/websocket-server, unmodified) for
// the benchmarks. This is the package's own src/server.js, with two changes
// a harness needs: it prints the port it really listens on (PORT=0 picks a
// free one), and on SIGTERM it waits for its LevelDB writes to finish before
// exiting (the package has no shutdown of its own; its persistence is on when
// YPERSISTENCE names a directory).
import WebSocket from 'ws'
import http from 'node:http'
import { setupWSConnection, getPersistence } from '@y/websocket-server/utils'

const wss = new WebSocket.Server({ noServer: true })
const host = process.env.HOST || '127.0.0.1'
const port = Number.parseInt(process.env.PORT || '0')

const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'Content-Type': 'text/plain' })
  response.end('okay')
})

wss.on('connection', setupWSConnection)

server.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws) => {
    wss.emit('connection', ws, request)
  })
})

server.listen(port, host, () => {
  const addr = server.address()
  console.log(`y-websocket-server listening on http://${host}:${addr.port}/`)
})

process.on('SIGTERM', async () => {
  const persistence = getPersistence()
  if (persistence !== null) {
    await persistence.provider.tr // the queue of pending LevelDB writes
    await persistence.provider.destroy()
  }
  process.exit(0)
})
