import { createServer } from 'node:net'

/** A TCP port that is free on the given loopback host right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve())
  })
  const port = (server.address() as { port: number }).port
  await new Promise((r) => server.close(r))
  return port
}
