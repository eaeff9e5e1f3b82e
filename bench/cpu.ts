// CPU time spent by the bench process and by the test servers it drives (Temporal, moto), read
// from /proc while a side runs: on a machine they share, it says where a side's time goes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_ROOT } from '../test/infra/env';

const TICKS_PER_MS = 100 / 1000; // USER_HZ on Linux

function serverCpuMs(pidFile: string): number {
  try {
    const pid = readFileSync(pidFile, 'utf8').trim();
    // utime and stime: fields 14 and 15, after the command name in parentheses.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_MS;
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
