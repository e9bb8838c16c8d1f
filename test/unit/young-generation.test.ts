import { describe, expect, it } from 'vitest'
import { youngGenerationArgs } from '../../src/modes/young-generation.js'

describe('youngGenerationArgs', () => {
  it('asks V8 to grow the young generation faster', () => {
    expect(youngGenerationArgs(8, [])).toEqual(['--semi-space-growth-factor=8'])
    expect(youngGenerationArgs(4, ['--enable-source-maps'])).toEqual(['--semi-space-growth-factor=4'])
  })

  it('adds nothing when turned off, or when the young generation is already sized by the user', () => {
    expect(youngGenerationArgs(null, [])).toEqual([])
    for (const flag of ['--max-semi-space-size=32', '--min_semi_space_size=4', '--semi-space-growth-factor=4', '--max-heap-size=512']) {
      expect(youngGenerationArgs(8, ['--enable-source-maps', flag])).toEqual([])
      expect(youngGenerationArgs(8, [], `--enable-source-maps ${flag}`)).toEqual([])
    }
    // the old generation is another matter
    expect(youngGenerationArgs(8, ['--max-old-space-size=4096'])).toEqual(['--semi-space-growth-factor=8'])
  })
})
