// Durations as written in rekey.yaml and on the command line: 90s, 10m, 2h, 90d.
// Pure: also used inside workflows.
import { z } from 'zod';

const UNITS = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 } as const;

/** A duration as written: a number and its unit. */
export const DURATION = /^(\d+)(ms|s|m|h|d)$/;

/** A duration field of rekey.yaml. */
export const duration = z.string().regex(DURATION, 'a duration such as 90s, 10m, 2h or 90d');

export function parseDuration(d: string): number {
  const m = DURATION.exec(d);
  if (!m) throw new Error(`bad duration "${d}": use a number and ms, s, m, h or d (e.g. 90d)`);
  return Number(m[1]) * UNITS[m[2] as keyof typeof UNITS];
}
