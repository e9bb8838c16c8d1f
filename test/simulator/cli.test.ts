import { describe, expect, it } from 'vitest'
import { startSimulatorFromCli } from '../../src/simulator/index.js'

describe('startSimulatorFromCli', () => {
  it('starts from CLI-style string options and prints the URLs', async () => {
    const lines: string[] = []
    const sim = await startSimulatorFromCli({
      port: '0',
      guilds: '50',
      maxConcurrency: '4',
      token: 'cli-token',
      handleSignals: false,
      log: (l) => lines.push(l),
    })
    try {
      const { restUrl, gatewayUrl } = sim.urls()
      expect(lines.join('\n')).toContain(restUrl)
      expect(lines.join('\n')).toContain(gatewayUrl)
      const res = await fetch(`${restUrl}/v10/gateway/bot`, { headers: { Authorization: 'Bot cli-token' } })
      expect(((await res.json()) as any).session_start_limit.max_concurrency).toBe(4)
      expect(sim.guildIds()).toHaveLength(50)
    } finally {
      await sim.stop()
    }
  })

  it('rejects a bad flag with the field name', async () => {
    await expect(startSimulatorFromCli({ port: 0, maxConcurrency: '0', handleSignals: false, log: () => {} })).rejects.toMatchObject({
      field: 'maxConcurrency',
    })
  })
})
