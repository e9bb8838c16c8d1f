// The deploy kit (examples/deploy) parsed and checked against the real CLIs: every flag, field,
// port, path and name one file refers to must exist where it points. Docker and Kubernetes are not
// run here (no engine, no cluster); their files are parsed with a YAML parser.
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { buildChildProgram, childManagerOptions, resolveChildConfig } from '../../src/cli/child.js'
import { readParentConfig } from '../../src/cli/parent-config.js'
import { buildProgram, type CliActions } from '../../src/cli/program.js'
import { simulatorCliOptions, type SimulatorFlags } from '../../src/cli/simulator.js'
import { ShardingManager } from '../../src/manager/ShardingManager.js'
import { METRICS_PATHS } from '../../src/metrics/index.js'
import { makeTempDir, removeDir } from '../helpers/certs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DEPLOY = join(ROOT, 'examples/deploy')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; bin: Record<string, string>; scripts: Record<string, string> }
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any

let tmp: string
let tls: string
let entry: { ordinalOf(name: string): number; childArgs(env: Record<string, string>): string[]; parentConfig(env: Record<string, string>): Any }
beforeAll(async () => {
  tmp = makeTempDir('dsm-deploy-')
  tls = join(tmp, 'tls')
  // The kit's own certificate script, as the compose and Kubernetes instructions run it.
  execFileSync('sh', [join(DEPLOY, 'make-certs.sh'), tls, 'parent', 'child-0', 'child-1'], { stdio: 'pipe' })
  entry = await import(join(DEPLOY, 'docker/entrypoint.mjs'))
})
afterAll(() => removeDir(tmp))

/** Parses `discordoo-child` flags with the real program and the real config checks. */
function childFlags(args: string[]) {
  const program = buildChildProgram({ writeOut: () => {}, writeErr: (t) => { throw new Error(t) } })
  program.parse(args, { from: 'user' })
  return resolveChildConfig(program.opts()).config
}

/** Parses a `discordoo` command line with the real program; returns the command and its flags. */
async function discordooFlags(args: string[]): Promise<{ command: string; flags: Any }> {
  let seen: { command: string; flags: Any } | null = null
  const record = (command: string) => async (flags: Any) => {
    seen = { command, flags }
    return 0
  }
  const actions: CliActions = { demo: record('demo'), simulator: async (f) => void (seen = { command: 'simulator', flags: f }), status: record('status'), parent: record('parent') }
  await buildProgram(actions, { writeOut: () => {}, writeErr: (t) => { throw new Error(t) } }).parseAsync(['node', 'discordoo', ...args])
  if (!seen) throw new Error(`no command ran for ${args.join(' ')}`)
  return seen
}

/** A parent config file checked as `discordoo parent` checks it, then constructed as a manager (no network). */
function checkParentConfig(config: Any, name: string) {
  const path = join(tmp, name)
  writeFileSync(path, JSON.stringify(config))
  const resolved = readParentConfig(path, {})
  new ShardingManager(resolved.manager)
  return resolved
}

/** Copies a config into the temp folder beside the generated certificates, as it would sit on a server. */
function withCertsBeside(file: string): string {
  const path = join(tmp, file.split('/').pop()!)
  copyFileSync(join(DEPLOY, file), path)
  return path
}

describe('make-certs.sh', () => {
  it('makes a certificate per machine with serverAuth and clientAuth, and private keys only the owner reads', () => {
    for (const name of ['parent', 'child-0', 'child-1']) {
      const cert = new X509Certificate(readFileSync(join(tls, `${name}.pem`)))
      expect(cert.subject).toBe(`CN=${name}`)
      expect(cert.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']))
      expect(statSync(join(tls, `${name}.key`)).mode & 0o077).toBe(0)
    }
  })
})

describe('systemd units', () => {
  function unit(file: string): Map<string, string> {
    const entries = new Map<string, string>()
    for (const line of readFileSync(join(DEPLOY, 'systemd', file), 'utf8').split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line)
      if (m) entries.set(m[1], m[2])
    }
    return entries
  }
  function execStart(u: Map<string, string>, bin: string): string[] {
    const [node, script, ...args] = u.get('ExecStart')!.split(/\s+/)
    expect(node).toBe('/usr/bin/node')
    expect(script).toBe(`/srv/bot/node_modules/${pkg.name}/${pkg.bin[bin].replace(/^\.\//, '')}`)
    expect(existsSync(join(ROOT, pkg.bin[bin]))).toBe(true)
    for (const key of ['Restart', 'KillSignal', 'TimeoutStopSec', 'EnvironmentFile', 'WantedBy', 'User']) expect(u.has(key), key).toBe(true)
    expect(u.get('Restart')).toBe('always')
    expect(u.get('KillSignal')).toBe('SIGTERM')
    expect(Number(u.get('TimeoutStopSec'))).toBeGreaterThanOrEqual(30)
    return args
  }

  it('the child unit runs discordoo-child with flags it accepts, and its child.json makes a child manager', () => {
    const args = execStart(unit('discordoo-child.service'), 'discordoo-child')
    expect(args).toEqual(['--config', '/srv/bot/child.json'])
    const config = withCertsBeside('systemd/child.json')
    writeFileSync(join(tmp, 'bot.js'), '')
    const c = childFlags(['--config', config])
    expect(c).toMatchObject({ host: '10.0.18.1', port: 8379, cert: join(tls, 'child-0.pem'), trust: [join(tls, 'parent.pem')] })
    // Constructing the child loads its certificate, key and trust list.
    new ShardingManager(childManagerOptions(c))
  })

  it('the parent unit runs discordoo parent with flags it accepts, and its parent.json passes `discordoo parent`', async () => {
    const args = execStart(unit('discordoo-parent.service'), 'discordoo')
    expect(await discordooFlags(args)).toEqual({ command: 'parent', flags: { config: '/srv/bot/parent.json' } })
    const parent = readParentConfig(withCertsBeside('systemd/parent.json'), {})
    new ShardingManager(parent.manager)
    expect(parent.machines).toBe(2)
    expect(parent.metrics).toEqual({ port: 9100, host: '127.0.0.1' })
  })
})

describe('Dockerfile and entry point', () => {
  const dockerfile = readFileSync(join(DEPLOY, 'docker/Dockerfile'), 'utf8')
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))

  it('copies files that exist, runs scripts that exist and enters through the entry point', () => {
    for (const line of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from='))) {
      const parts = line.split(/\s+/).slice(1, -1)
      for (const src of parts) expect(existsSync(join(ROOT, src)), `COPY ${src}`).toBe(true)
    }
    for (const m of dockerfile.matchAll(/npm run (\w+)/g)) expect(pkg.scripts[m[1]], `npm run ${m[1]}`).toBeDefined()
    expect(instructions.filter((l) => l.startsWith('FROM ')).every((l) => /node:(2\d)/.test(l))).toBe(true)
    const entrypoint = JSON.parse(instructions.find((l) => l.startsWith('ENTRYPOINT '))!.slice('ENTRYPOINT '.length)) as string[]
    expect(entrypoint).toEqual(['node', 'examples/deploy/docker/entrypoint.mjs'])
    expect(instructions.find((l) => l.startsWith('EXPOSE '))!.split(/\s+/).slice(1)).toEqual(['8379', '9100'])
    expect(instructions).toContain('USER node')
  })

  it('reads a pod ordinal from its name', () => {
    expect(entry.ordinalOf('discordoo-child-0')).toBe(0)
    expect(entry.ordinalOf('my-bot-child-12')).toBe(12)
    expect(() => entry.ordinalOf('child')).toThrow(/POD_NAME/)
  })
})

describe('compose file', () => {
  const compose = parseYaml(readFileSync(join(DEPLOY, 'compose/compose.yaml'), 'utf8'), { merge: true }) as Any
  const services = compose.services as Record<string, Any>
  const env = (s: Any) => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{DISCORD_TOKEN:-([^}]+)\}/, '$1')]))

  it('has the simulator, two children and a parent, built from the repository with the kit Dockerfile', () => {
    expect(Object.keys(services).sort()).toEqual(['child-0', 'child-1', 'parent', 'simulator'])
    for (const s of Object.values(services)) {
      const context = resolve(DEPLOY, 'compose', s.build.context)
      expect(JSON.parse(readFileSync(join(context, 'package.json'), 'utf8')).name).toBe(pkg.name)
      expect(existsSync(join(context, s.build.dockerfile))).toBe(true)
      for (const dep of s.depends_on ?? []) expect(services[dep], `depends_on ${dep}`).toBeDefined()
    }
  })

  it('every command parses with the real CLIs, and the names, ports and paths agree', async () => {
    const sim = await discordooFlags(services.simulator.command.map((a: string) => a.replace(/\$\{DISCORD_TOKEN:-([^}]+)\}/, '$1')))
    expect(sim.command).toBe('simulator')
    const simOptions = simulatorCliOptions(sim.flags as SimulatorFlags)
    const simBase = `${simOptions.publicUrl}`
    expect(simBase).toBe(`http://simulator:${simOptions.port}`)

    const parentJson = JSON.parse(readFileSync(join(DEPLOY, 'compose/parent.json'), 'utf8'))
    const mount = services.parent.volumes.find((v: string) => v.endsWith(`:${env(services.parent).PARENT_CONFIG}:ro`))
    expect(mount, 'parent.json mounted where PARENT_CONFIG points').toBe(`./parent.json:${env(services.parent).PARENT_CONFIG}:ro`)
    expect(parentJson.api).toBe(`${simBase}/api`)
    expect(services.parent.ports).toEqual([`127.0.0.1:${parentJson.metrics.port}:${parentJson.metrics.port}`])

    for (const [i, name] of ['child-0', 'child-1'].entries()) {
      const s = services[name]
      expect(s.command).toEqual(['child'])
      expect(s.volumes).toContain('./tls:/tls:ro')
      const e = env(s)
      expect(e.DISCORD_API_BASE).toBe(`${simBase}/api`)
      expect(e.DISCORD_TOKEN).toBe(sim.flags.token)
      const args = entry.childArgs({ ...e, TLS_DIR: tls })
      const c = childFlags(args)
      expect(c.cert).toBe(join(tls, `${name}.pem`))
      expect(existsSync(join(ROOT, c.file))).toBe(true)
      expect(parentJson.points[i]).toMatchObject({ host: name, port: c.port })
    }
    // The parent's file, with /tls/ where make-certs.sh put the certificates.
    const local = JSON.parse(JSON.stringify(parentJson).replaceAll('"/tls/', `"${tls}/`))
    expect(checkParentConfig(local, 'compose-parent.json').machines).toBe(2)
  })
})

describe('Kubernetes manifests', () => {
  const docs = ['child.yaml', 'parent.yaml'].flatMap((f) =>
    parseAllDocuments(readFileSync(join(DEPLOY, 'kubernetes', f), 'utf8')).map((d) => {
      expect(d.errors, f).toEqual([])
      return d.toJS() as Any
    }),
  )
  const find = (kind: string, name: string) => {
    const doc = docs.find((d) => d.kind === kind && d.metadata?.name === name)
    if (!doc) throw new Error(`no ${kind} ${name}`)
    return doc
  }
  const envOf = (container: Any) => Object.fromEntries(container.env.filter((e: Any) => 'value' in e).map((e: Any) => [e.name, String(e.value)]))
  const secretCommands = readFileSync(join(DEPLOY, 'README.md'), 'utf8').replace(/\\\n\s*/g, '').split('\n').filter((l) => l.startsWith('kubectl create secret generic '))
  const secretFiles = (name: string) => {
    const line = secretCommands.find((l) => l.startsWith(`kubectl create secret generic ${name} `))
    if (!line) throw new Error(`the README creates no Secret ${name}`)
    return [...line.matchAll(/--from-file=tls\/(\S+)/g)].map((m) => m[1]).sort()
  }

  it('every document is well formed: apiVersion, kind, name; selectors match pod labels; mounts have volumes', () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual(['Deployment/discordoo-parent', 'Service/discordoo-child', 'Service/discordoo-parent', 'StatefulSet/discordoo-child'])
    for (const d of docs) {
      expect(typeof d.apiVersion).toBe('string')
      expect(d.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
      if (d.kind === 'Service') continue
      const labels = d.spec.template.metadata.labels
      expect(labels).toMatchObject(d.spec.selector.matchLabels)
      for (const c of d.spec.template.spec.containers) {
        expect(c.image).toBe('discordoo-sharding:local')
        const volumes = new Set(d.spec.template.spec.volumes.map((v: Any) => v.name))
        for (const m of c.volumeMounts) expect(volumes.has(m.name), m.name).toBe(true)
        for (const e of c.env.filter((x: Any) => x.valueFrom?.secretKeyRef)) secretFiles(e.valueFrom.secretKeyRef.name)
      }
      for (const v of d.spec.template.spec.volumes.filter((x: Any) => x.secret)) secretFiles(v.secret.secretName)
    }
    for (const svc of docs.filter((d) => d.kind === 'Service')) {
      const workload = docs.find((d) => d.kind !== 'Service' && Object.entries(svc.spec.selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v))
      expect(workload, `a workload behind Service ${svc.metadata.name}`).toBeDefined()
      const named = new Map(workload.spec.template.spec.containers.flatMap((c: Any) => c.ports.map((p: Any) => [p.name, p.containerPort])))
      for (const p of svc.spec.ports) expect(named.get(p.targetPort), `${svc.metadata.name} → ${p.targetPort}`).toBe(p.port)
    }
  })

  it('children: a StatefulSet behind a headless Service; the pod ordinal picks the certificate; the flags parse', () => {
    const sts = find('StatefulSet', 'discordoo-child')
    const svc = find('Service', sts.spec.serviceName)
    expect(svc.spec.clusterIP).toBe('None')
    const [c] = sts.spec.template.spec.containers
    expect(c.args).toEqual(['child'])
    const fieldRefs = Object.fromEntries(c.env.filter((e: Any) => e.valueFrom?.fieldRef).map((e: Any) => [e.name, e.valueFrom.fieldRef.fieldPath]))
    expect(fieldRefs).toEqual({ POD_NAME: 'metadata.name', POD_IP: 'status.podIP' })
    const e = envOf(c)
    expect(c.volumeMounts.find((m: Any) => m.name === 'tls').mountPath).toBe(e.TLS_DIR)
    for (let ordinal = 0; ordinal < sts.spec.replicas; ordinal++) {
      const cfg = childFlags(entry.childArgs({ ...e, TLS_DIR: tls, POD_NAME: `${sts.metadata.name}-${ordinal}`, POD_IP: '10.1.2.3' }))
      expect(cfg).toMatchObject({ host: '10.1.2.3', port: c.ports[0].containerPort, cert: join(tls, `child-${ordinal}.pem`), key: join(tls, `child-${ordinal}.key`) })
      expect(existsSync(cfg.cert) && existsSync(cfg.key)).toBe(true)
      expect(existsSync(join(ROOT, cfg.file))).toBe(true)
    }
    const secret = sts.spec.template.spec.volumes.find((v: Any) => v.name === 'tls').secret.secretName
    const needed = ['parent.pem', ...Array.from({ length: sts.spec.replicas }, (_, i) => [`child-${i}.pem`, `child-${i}.key`]).flat()].sort()
    expect(secretFiles(secret)).toEqual(needed)
  })

  it('parent: one Deployment (Recreate) whose generated config reaches every child pod; /healthz is its readiness probe', () => {
    const dep = find('Deployment', 'discordoo-parent')
    const sts = find('StatefulSet', 'discordoo-child')
    expect(dep.spec.replicas).toBe(1)
    expect(dep.spec.strategy.type).toBe('Recreate')
    const [c] = dep.spec.template.spec.containers
    expect(c.args).toEqual(['parent'])
    const e = envOf(c)
    expect(Number(e.CHILDREN)).toBe(sts.spec.replicas)
    expect(e.CHILD_STATEFULSET).toBe(sts.metadata.name)
    expect(e.CHILD_SERVICE).toBe(sts.spec.serviceName)
    expect(Number(e.CHILD_PORT)).toBe(sts.spec.template.spec.containers[0].ports[0].containerPort)

    const config = entry.parentConfig({ ...e, TLS_DIR: tls })
    const resolved = checkParentConfig(config, 'k8s-parent.json')
    expect(resolved.machines).toBe(sts.spec.replicas)
    expect(config.points.map((p: Any) => [p.host, p.childManagerOptions.shards])).toEqual([
      ['discordoo-child-0.discordoo-child', { from: 0, to: 15 }],
      ['discordoo-child-1.discordoo-child', { from: 16, to: 31 }],
    ])
    const metricsPort = c.ports.find((p: Any) => p.name === c.readinessProbe.httpGet.port).containerPort
    expect(resolved.metrics).toEqual({ port: metricsPort, host: '0.0.0.0' })
    expect(METRICS_PATHS).toContain(c.readinessProbe.httpGet.path)
    expect(dep.spec.template.metadata.annotations['prometheus.io/port']).toBe(String(metricsPort))
    const secret = dep.spec.template.spec.volumes.find((v: Any) => v.name === 'tls').secret.secretName
    expect(secretFiles(secret)).toEqual(['parent.key', 'parent.pem', ...Array.from({ length: sts.spec.replicas }, (_, i) => `child-${i}.pem`)].sort())
    expect(dirname(config.tls.public)).toBe(tls)
  })
})
