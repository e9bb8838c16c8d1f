import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

// Ports come from below the kernel's ephemeral range, so an outgoing connection of a test running
// beside this one can never take a port between freePort() returning it and the test listening on
// it (port 0 would hand out an ephemeral port, and that race failed CI once). Each vitest worker
// walks its own block, so two workers never hand out the same port either.
const ephemeralLow = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768
  } catch {
    return 32768
  }
})()
const low = 10000
const blockSize = 1000
const blocks = Math.max(1, Math.floor((ephemeralLow - low) / blockSize))
const worker = Number(process.env.VITEST_POOL_ID ?? process.pid)
const blockStart = low + (worker % blocks) * blockSize
let next = 0

function canListen(port: number, host: string): Promise<boolean> {
  const server = createServer()
  return new Promise((resolve) => {
    server.once('error', () => resolve(false))
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)))
  })
}

/** A TCP port that is free on the given loopback host right now, and that nothing else in the suite will be handed. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let tried = 0; tried < blockSize; tried++) {
    const port = blockStart + (next++ % blockSize)
    if (await canListen(port, host)) return port
  }
  throw new Error(`freePort: no free port in ${blockStart}-${blockStart + blockSize - 1} on ${host}`)
}
