// The Hocuspocus server (npm @hocuspocus/server, unmodified) for the
// benchmarks, configured the way its documentation starts one, with what a
// harness needs: it listens on HOST:PORT (PORT=0 picks a free port) and
// prints the port it got, and it stops on SIGTERM (the package's own
// `stopOnSignals`). No persistence extension: documents live in memory and
// are dropped when their last connection leaves. Every connection must
// present a token (any non-empty one), so the in-band authentication runs
// as it does in a real deployment.
import { Server } from '@hocuspocus/server'

const host = process.env.HOST || '127.0.0.1'
const port = Number.parseInt(process.env.PORT || '0')

const server = new Server({
  address: host,
  port,
  quiet: true,
  async onAuthenticate ({ token }) {
    if (!token) throw new Error('a token is required')
  }
})

await server.listen()
console.log(`hocuspocus listening on http://${host}:${server.address.port}/`)
