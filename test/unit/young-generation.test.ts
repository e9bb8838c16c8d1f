import { describe, expect, it } from 'vitest'
import { youngGenerationArgs } from '../../src/modes/young-generation.js'

describe('youngGenerationArgs', () => {
  it('asks V8 for a minimum semi-space, raising the maximum only above its default of 16 MiB', () => {
    expect(youngGenerationArgs(16, [])).toEqual(['--min-semi-space-size=16'])
    expect(youngGenerationArgs(8, ['--enable-source-maps'])).toEqual(['--min-semi-space-size=8'])
    expect(youngGenerationArgs(64, [])).toEqual(['--min-semi-space-size=64', '--max-semi-space-size=64'])
  })

  it('adds nothing when turned off, or when the young generation is already sized by the user', () => {
    expect(youngGenerationArgs(null, [])).toEqual([])
    for (const flag of ['--max-semi-space-size=32', '--min_semi_space_size=4', '--semi-space-growth-factor=4', '--max-heap-size=512']) {
      expect(youngGenerationArgs(16, ['--enable-source-maps', flag])).toEqual([])
      expect(youngGenerationArgs(16, [], `--enable-source-maps ${flag}`)).toEqual([])
    }
    // the old generation is another matter
    expect(youngGenerationArgs(16, ['--max-old-space-size=4096'])).toEqual(['--min-semi-space-size=16'])
  })
})
