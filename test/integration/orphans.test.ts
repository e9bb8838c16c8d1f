import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { fixture, processGone } from '../helpers/manager.js'

describe('orphan protection', () => {
  it('instances exit by themselves when their manager is killed', async () => {
    const managerProcess = spawn(process.execPath, [fixture('orphan-manager.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    managerProcess.stdout.setEncoding('utf8')
    const pids = await new Promise<number[]>((resolve, reject) => {
      managerProcess.stdout.on('data', (chunk) => {
        out += chunk
        const line = out.split('\n').find((l) => l.startsWith('['))
        if (line) resolve(JSON.parse(line))
      })
      managerProcess.on('exit', (code) => reject(new Error(`manager exited early with ${code}`)))
    })
    expect(pids).toHaveLength(2)
    managerProcess.kill('SIGKILL')
    await once(managerProcess, 'exit')
    for (const pid of pids) expect(await processGone(pid, 5000)).toBe(true)
  })
})
