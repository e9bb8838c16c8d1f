/** Finds the package root (where examples/ lives) from wherever this code was bundled or loaded. */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const PACKAGE_NAME = 'discordoo-sharding'

/**
 * Walks up from `from` (default: this module, i.e. dist/bin/discordoo.js when bundled, src/cli/ in
 * tests) to the first package.json named discordoo-sharding.
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from)
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${from}`)
    dir = parent
  }
}
