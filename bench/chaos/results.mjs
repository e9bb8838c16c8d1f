// Reads the bots' result files (one <pid>.jsonl per instance process, appended synchronously by
// test/fixtures/chaos-bot.mjs) incrementally, and hands every complete record to `onRecord`.
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs'
import { join } from 'node:path'

export class ResultsReader {
  #offsets = new Map()
  #partial = new Map()

  constructor(dir, onRecord) {
    this.dir = dir
    this.onRecord = onRecord
    this.badLines = 0
  }

  /** Reads whatever was appended since the last poll. */
  poll() {
    let names
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith('.jsonl'))
    } catch {
      return
    }
    for (const name of names) this.#readFile(name)
  }

  #readFile(name) {
    const path = join(this.dir, name)
    const offset = this.#offsets.get(name) ?? 0
    let size
    try {
      size = statSync(path).size
    } catch {
      return
    }
    if (size <= offset) return
    const buf = Buffer.alloc(size - offset)
    const fd = openSync(path, 'r')
    try {
      readSync(fd, buf, 0, buf.length, offset)
    } finally {
      closeSync(fd)
    }
    this.#offsets.set(name, size)
    const text = (this.#partial.get(name) ?? '') + buf.toString('utf8')
    const lines = text.split('\n')
    this.#partial.set(name, lines.pop()) // an unfinished last line waits for the rest
    for (const line of lines) {
      if (!line) continue
      let record
      try {
        record = JSON.parse(line)
      } catch {
        this.badLines++ // a process killed in the middle of a write leaves half a line
        continue
      }
      this.onRecord(record)
    }
  }
}
