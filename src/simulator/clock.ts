import type { NowFn } from './identify-rules.js'

/**
 * Integer milliseconds on the Unix-epoch scale that never go backwards: a wall-clock jump (NTP, a
 * changed system time) must not shrink an identify window or a budget period. Timestamps in stats
 * stay comparable with `Date.now()` from other processes to within the clock's drift since start.
 */
export const simulatorNow: NowFn = () => Math.floor(performance.timeOrigin + performance.now())
