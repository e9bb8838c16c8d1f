// What a manager's options make of one instance's settings (src/manager/local-backend.ts instanceSettings),
// in either mode, without starting anything.
import { instanceSettings } from '../../src/manager/local-backend.js'
import { resolveOptions } from '../../src/manager/options.js'
import { ProcessDriver } from '../../src/modes/processes.js'
import { WorkerDriver } from '../../src/modes/workers.js'

export function settingsFor(mode: 'processes' | 'workers', extra: Record<string, unknown> = {}) {
  const file = new URL(import.meta.url).pathname
  return instanceSettings(resolveOptions({ file, mode, shards: 1, ...extra } as never), mode === 'processes' ? new ProcessDriver() : new WorkerDriver(), file)
}
