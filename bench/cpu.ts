// CPU time spent by the bench process and by the test servers it drives (Temporal, moto), read
// from /proc while a side runs: on a machine they share, it says where a side's time goes.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_ROOT } from '../test/infra/env';

const TICKS_PER_MS = 100 / 1000; // USER_HZ on Linux

/** CPU ms a process has spent (user and system), read from /proc; NaN once it is gone. */
export function processCpuMs(pid: number | string): number {
  try {
    // utime and stime: fields 14 and 15, after the command name in parentheses.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_MS;
  } catch {
    return Number.NaN;
  }
}

function serverCpuMs(pidFile: string): number {
  try {
    return processCpuMs(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return Number.NaN;
  }
}

export class CpuMeter {
  private readonly totals = new Map<string, number>();
  private marks = new Map<string, number>();

  private now(): Map<string, number> {
    const self = process.cpuUsage();
    return new Map([
      ['bench process (client and worker)', (self.user + self.system) / 1000],
      ['Temporal server', serverCpuMs(join(TEST_ROOT, 'temporal', 'pid'))],
      ['moto', serverCpuMs(join(TEST_ROOT, 'moto', 'pid'))],
    ]);
  }

  start(): void {
    this.marks = this.now();
  }

  stop(): void {
    for (const [k, v] of this.now())
      this.totals.set(k, (this.totals.get(k) ?? 0) + v - (this.marks.get(k) ?? 0));
  }

  perItem(n: number): string {
    return [...this.totals].map(([k, v]) => `${k} ${(v / n).toFixed(1)}`).join(', ');
  }
}

/** CPU ms of a process and all its live descendants, with what its ended children spent (a
 * PostgreSQL postmaster and its backends). */
export function treeCpuMs(pid: number | string): number {
  const stat = (p: string) => readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const children = new Map<string, string[]>();
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const ppid = stat(p)[1] as string;
      children.set(ppid, [...(children.get(ppid) ?? []), p]);
    } catch {
      // ended meanwhile
    }
  }
  const walk = (p: string): number => {
    try {
      const f = stat(p);
      // utime, stime, cutime, cstime
      const own = [11, 12, 13, 14].reduce((a, i) => a + Number(f[i]), 0) / TICKS_PER_MS;
      return own + (children.get(p) ?? []).reduce((a, c) => a + walk(c), 0);
    } catch {
      return 0;
    }
  };
  return walk(String(pid));
}
