/** Limits a child manager puts on what a parent may ask of it (`--max-shards`, `--max-instances`). */
export interface AssignmentLimits {
  maxShards: number
  maxInstances: number
}

export const DEFAULT_ASSIGNMENT_LIMITS: AssignmentLimits = { maxShards: 4096, maxInstances: 1024 }
