import { createServer, connect, type Server, type Socket } from 'node:net'

/** A loopback TCP proxy a test can cut, to break a link from the outside without touching either end. */
export class TcpProxy {
  private server: Server
  private pairs = new Set<[Socket, Socket]>()
  private blocked = false
  port = 0

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((inbound) => {
      if (this.blocked) return inbound.destroy()
      const outbound = connect(this.target.port, this.target.host)
      const pair: [Socket, Socket] = [inbound, outbound]
      this.pairs.add(pair)
      inbound.pipe(outbound).pipe(inbound)
      const drop = () => {
        inbound.destroy()
        outbound.destroy()
        this.pairs.delete(pair)
      }
      inbound.on('error', drop).on('close', drop)
      outbound.on('error', drop).on('close', drop)
    })
  }

  async listen(host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, host, () => resolve()))
    this.port = (this.server.address() as { port: number }).port
    return this.port
  }

  /** Drops every connection and refuses new ones until unblock(). */
  block(): void {
    this.blocked = true
    for (const [a, b] of this.pairs) {
      a.destroy()
      b.destroy()
    }
    this.pairs.clear()
  }

  unblock(): void {
    this.blocked = false
  }

  async close(): Promise<void> {
    this.block()
    await new Promise((r) => this.server.close(r))
  }
}
