// `rekey sync-status`: how much data each environment holds, as the guide's sync-status shows,
// read with `du` on each host (over SSH with pinned host keys). Changes nothing.
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config/schema';
import { withHost } from '../hosts/connect';
import { shellQuote } from '../hosts/shell';

export interface DataSize {
  env: string;
  host: string;
  dataDir: string;
  bytes: number | null;
  problem?: string;
}

export async function dataSizes(config: Config): Promise<DataSize[]> {
  return Promise.all(
    Object.entries(config.environments).map(async ([env, e]): Promise<DataSize> => {
      const hostCfg = config.hosts[e.host];
      const dataDir = hostCfg?.dataDir ?? '';
      try {
        if (!hostCfg) throw new Error(`unknown host ${e.host}`);
        const res = await withHost(e.host, hostCfg, (h) =>
          h.exec(`du -sb ${shellQuote(dataDir)}`, { timeoutMs: 60_000 }),
        );
        if (res.code !== 0) return { env, host: e.host, dataDir, bytes: null, problem: 'not found' };
        return { env, host: e.host, dataDir, bytes: Number(res.stdout.split(/\s/)[0]) };
      } catch (err) {
        // HostKeyMismatch, BadInput (unreadable identity file) or a plain network error.
        const problem = err instanceof ApplicationFailure ? (err.type ?? 'failed') : 'unreachable';
        return { env, host: e.host, dataDir, bytes: null, problem };
      }
    }),
  );
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
