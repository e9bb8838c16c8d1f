// State the test fixtures keep on globalThis inside instances, read back through broadcastEval.
declare var grants: Record<number, number>
declare var received: unknown[]
