import { describe, expect, it } from 'vitest'
import { applyV8Tuning, DISCORDJS_BUILTINS } from '../../src/runtime/v8-tuning.js'

function fake(usesDiscordJs: boolean) {
  const calls: string[] = []
  return {
    calls,
    deps: { setFlags: (f: string) => void calls.push(`flags ${f}`), load: (id: string) => void calls.push(`load ${id}`), usesDiscordJs: () => usesDiscordJs },
  }
}

describe('applyV8Tuning', () => {
  it('loads discord.js\'s built-in modules first, then sets the flags, when the project has discord.js', () => {
    const { calls, deps } = fake(true)
    expect(applyV8Tuning(['--semi-space-growth-factor=4'], deps)).toEqual([...DISCORDJS_BUILTINS])
    expect(calls).toEqual([...DISCORDJS_BUILTINS.map((id) => `load ${id}`), 'flags --semi-space-growth-factor=4'])
  })

  it('sets the flags at once without discord.js, and does nothing without flags', () => {
    const a = fake(false)
    expect(applyV8Tuning(['--semi-space-growth-factor=4', '--x'], a.deps)).toEqual([])
    expect(a.calls).toEqual(['flags --semi-space-growth-factor=4 --x'])
    const b = fake(true)
    expect(applyV8Tuning([], b.deps)).toEqual([])
    expect(b.calls).toEqual([])
  })
})
