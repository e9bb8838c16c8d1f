// The gateway simulator in a process of its own, for the benches: Discord's gateway does not share the
// manager's event loop, so neither should the simulator (in the manager's process, every READY and
// GUILD_CREATE it builds delays the manager's identify grants and the bench's own timers).
//
//   node bench/sim-process.mjs '<GatewaySimulator options as JSON>'
// prints `@@sim-ready <restUrl>` once listening, serves the admin API (`/__sim/stats`) on loopback,
// and exits when its stdin closes (the bench that started it is gone) or on SIGTERM.
import { GatewaySimulator } from '../dist/simulator.js'

const sim = new GatewaySimulator({ ...JSON.parse(process.argv[2] ?? '{}'), adminHttp: 'loopback' })
const { restUrl } = await sim.start({ port: 0, host: '127.0.0.1' })
process.stdout.write(`@@sim-ready ${restUrl}\n`)
const stop = () => sim.stop().finally(() => process.exit(0))
process.stdin.on('end', stop).on('error', stop).resume()
process.once('SIGTERM', stop)
