// A point whose address cannot be dialled as written gets a reason that says how to write it, and
// the address written that way works: parent and child on the two ends of a veth pair, by link-local
// address and zone, in a network namespace the test makes.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectHint } from '../../src/net/client.js'
import { makeCert, makeTempDir, removeDir, type MadeCert } from '../helpers/certs.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/link-local-parent.mjs', import.meta.url))
const CHILD_CLI = fileURLToPath(new URL('../../dist/bin/discordoo-child.js', import.meta.url))
/** The child needs a bot file; the parent leaves once the link is up, before assigning any shard. */
const BOT_FILE = fileURLToPath(new URL('../fixtures/basic-client.mjs', import.meta.url))

/** Runs a bash script in a network namespace of its own, with `vars` in its environment; resolves with its exit code and output. */
function inNetns(script: string, vars: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const proc = spawn('unshare', ['--net', '--pid', '--fork', 'bash', '-c', script], { env: { ...process.env, ...vars }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout.on('data', (d) => (out += d))
  proc.stderr.on('data', (d) => (out += d))
  return new Promise((resolve) => proc.on('exit', (code) => resolve({ code, out })))
}

function event(out: string, name: string): Record<string, unknown> {
  const line = new RegExp(`^${name} (.*)$`, 'm').exec(out)
  expect(line, out).not.toBeNull()
  return JSON.parse(line![1]!) as Record<string, unknown>
}

describe('connectHint', () => {
  it('names the zone a link-local IPv6 address needs, and says nothing otherwise', () => {
    for (const host of ['FE80::0202:B3FF:FE1E:8329', 'fe80::1', 'febf::1']) {
      expect(connectHint(host, 'EINVAL')).toContain(`write it with its zone, like '${host}%eth0'`)
    }
    expect(connectHint('fe80::1%eth0', 'EINVAL')).toBe('')
    expect(connectHint('fe80::1', 'ECONNREFUSED')).toBe('')
    expect(connectHint('fec0::1', 'EINVAL')).toBe('')
    expect(connectHint('2001:db8::1', 'EINVAL')).toBe('')
    expect(connectHint('10.0.18.1', 'EINVAL')).toBe('')
  })
})

describe('a parent dialling the seed example\'s link-local address', () => {
  let dir: string
  let parent: MadeCert
  let child: MadeCert
  beforeAll(() => {
    dir = makeTempDir()
    parent = makeCert(dir, 'parent')
    child = makeCert(dir, 'child')
  })
  afterAll(() => removeDir(dir))
  const vars = () => ({
    NODE: process.execPath,
    PARENT: FIXTURE,
    CHILD_CLI,
    BOT: BOT_FILE,
    PARENT_CERT: parent.certPath,
    PARENT_KEY: parent.keyPath,
    CHILD_CERT: child.certPath,
    CHILD_KEY: child.keyPath,
  })

  it('reports CONNECT_FAILED with the fix, not a bare EINVAL', async () => {
    const { code, out } = await inNetns('exec "$NODE" "$PARENT" "FE80::0202:B3FF:FE1E:8329" "$PARENT_CERT" "$PARENT_KEY" "$CHILD_CERT"', vars())
    expect(code, out).toBe(0)
    const e = event(out, 'machineError')
    expect(e.machine).toBe('[FE80::0202:B3FF:FE1E:8329]:8379')
    expect(e.code).toBe('CONNECT_FAILED')
    expect(e.reason).toContain('EINVAL')
    expect(e.reason).toContain("write it with its zone, like 'FE80::0202:B3FF:FE1E:8329%eth0'")
  }, 30_000)

  for (const udp of ['', 'udp6']) {
    it(`connects to a child listening on a link-local address when the point names its zone${udp ? ', and carries messages over UDP' : ''}`, async () => {
      // Both ends of a veth pair get a link-local address (nodad: usable at once); the child listens on
      // one by its zone, the parent dials it through the other.
      const script = [
        'set -e',
        'ip link set lo up',
        'ip link add v0 type veth peer name v1',
        'ip link set v0 up && ip link set v1 up',
        'ip addr add fe80::a/64 dev v0 nodad && ip addr add fe80::b/64 dev v1 nodad',
        'log=$(mktemp)',
        '"$NODE" "$CHILD_CLI" --host "fe80::b%v1" $UDP_FLAG --file "$BOT" --cert "$CHILD_CERT" --key "$CHILD_KEY" --trust "$PARENT_CERT" > "$log" 2>&1 &',
        'until grep -q "listening on" "$log"; do kill -0 $! 2>/dev/null || { cat "$log"; exit 3; }; sleep 0.05; done',
        '"$NODE" "$PARENT" "fe80::b%v0" "$PARENT_CERT" "$PARENT_KEY" "$CHILD_CERT" $UDP',
      ].join('\n')
      const { code, out } = await inNetns(script, { ...vars(), UDP: udp, UDP_FLAG: udp ? '--udp' : '' })
      expect(code, out).toBe(0)
      expect(out).not.toContain('machineError')
      expect(event(out, 'machineConnect')).toMatchObject({ machine: '[fe80::b%v0]:8379', host: 'fe80::b%v0', port: 8379, resumed: false })
      if (udp) expect(out).toContain('messages now travel over encrypted UDP (udp6)')
    }, 30_000)
  }
})
