/** A well-formed assignment as a parent sends it to a child (tests that play the parent patch it). */
export function assignment(patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    machineId: 'raw',
    mode: 'processes',
    shards: [0, 1],
    totalShards: 2,
    shardsPerInstance: 1,
    firstInstanceId: 0,
    env: {},
    execArgv: [],
    args: [],
    respawn: true,
    restarts: { max: 5, interval: 600000, baseDelay: 100, maxDelay: 200 },
    timeouts: { ready: 60000, request: 30000, heartbeatInterval: 1000, heartbeat: 30000, kill: 2000 },
    set: 0,
    active: true,
    sessions: [],
    fenceAfter: 0,
    ...patch,
  }
}
