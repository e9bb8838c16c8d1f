/** Loaded with `node --require` before the client file of a PROCESSES-mode instance. */
import { InstanceRuntime } from './instance-runtime.js'

InstanceRuntime.install()
