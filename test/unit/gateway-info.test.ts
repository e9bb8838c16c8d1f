import { createServer, type Server, type ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { fetchGatewayBot } from '../../src/manager/gateway-info.js'

const GOOD = { url: 'wss://gateway.example', shards: 3, session_start_limit: { total: 1000, remaining: 990, reset_after: 1000, max_concurrency: 2 } }
let server: Server | null = null
afterEach(async () => {
  server?.closeAllConnections()
  await new Promise((r) => (server ? server.close(r) : r(null)))
  server = null
})

/** A loopback API that answers /v10/gateway/bot with `answer`; resolves with its base URL. */
async function api(answer: (res: ServerResponse, auth: string | undefined) => void): Promise<string> {
  server = createServer((req, res) => {
    if (req.url !== '/v10/gateway/bot') return res.writeHead(404).end()
    answer(res, req.headers.authorization)
  })
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}

describe('fetchGatewayBot', () => {
  it('sends the token and returns the answer', async () => {
    let seen: string | undefined
    const base = await api((res, auth) => {
      seen = auth
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(GOOD))
    })
    expect(await fetchGatewayBot(base, 'abc')).toEqual(GOOD)
    expect(seen).toBe('Bot abc')
  })

  it('names a bad token, an HTTP error, a body that is not JSON and a body of the wrong shape', async () => {
    let reply: (res: ServerResponse) => void = () => {}
    const base = await api((res) => reply(res))
    reply = (res) => res.writeHead(401).end('{"message":"401: Unauthorized"}')
    await expect(fetchGatewayBot(base, 't')).rejects.toMatchObject({ code: 'TOKEN_INVALID', message: expect.stringContaining('token is invalid') })
    reply = (res) => res.writeHead(502).end()
    await expect(fetchGatewayBot(base, 't')).rejects.toMatchObject({ code: 'GATEWAY_INFO', message: expect.stringContaining('HTTP 502') })
    reply = (res) => res.writeHead(200).end('<html>')
    await expect(fetchGatewayBot(base, 't')).rejects.toMatchObject({ code: 'GATEWAY_INFO', message: expect.stringContaining('not JSON') })
    reply = (res) => res.writeHead(200).end('{"shards":"many"}')
    await expect(fetchGatewayBot(base, 't')).rejects.toMatchObject({ code: 'GATEWAY_INFO', message: expect.stringContaining('unexpected body') })
  })

  it('an API that never answers, or cuts the answer short, fails instead of holding start() forever', async () => {
    let reply: (res: ServerResponse) => void = () => {}
    const base = await api((res) => reply(res))
    reply = () => {} // never answers
    await expect(fetchGatewayBot(base, 't', 200)).rejects.toMatchObject({ code: 'GATEWAY_INFO', message: expect.stringContaining('no answer within 200 ms') })
    reply = (res) => {
      res.writeHead(200, { 'content-length': '1000' }).write('{"shards":')
      res.socket?.destroy()
    }
    await expect(fetchGatewayBot(base, 't')).rejects.toMatchObject({ code: 'GATEWAY_INFO', message: expect.stringContaining('could not reach') })
  })

  it('an unreachable API and a URL that is not http(s) are clear errors', async () => {
    const base = await api(() => {})
    const closed = base
    await new Promise((r) => server!.close(r))
    server = null
    await expect(fetchGatewayBot(closed, 't')).rejects.toMatchObject({ code: 'GATEWAY_INFO', message: expect.stringContaining('could not reach') })
    await expect(fetchGatewayBot('ftp://127.0.0.1', 't')).rejects.toMatchObject({ code: 'GATEWAY_INFO', message: expect.stringContaining('must be http: or https:') })
  })
})
