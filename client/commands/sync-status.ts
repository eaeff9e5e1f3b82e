// rekey sync-status: data dir sizes on every environment's host (read-only).
import { JSON_OPTION, printJson } from '../json';
import { dataSizes, formatBytes } from '../sync-status';
import { type Command, loadCliConfig, type Options, parse } from './common';

const OPTIONS = { ...JSON_OPTION } satisfies Options;

async function syncStatus(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const config = loadCliConfig(values.config);
  const rows = await dataSizes(config);
  const code = rows.every((r) => r.bytes !== null) ? 0 : 1;
  if (values.json) {
    printJson('sync-status', { environments: rows });
    return code;
  }
  console.log(`${'ENVIRONMENT'.padEnd(12)} ${'HOST'.padEnd(14)} ${'SIZE'.padStart(10)}  DATA DIR`);
  for (const r of rows) {
    console.log(
      `${r.env.padEnd(12)} ${r.host.padEnd(14)} ${(r.bytes === null ? (r.problem ?? 'unknown') : formatBytes(r.bytes)).padStart(10)}  ${r.dataDir}`,
    );
  }
  return code;
}

export const command: Command = {
  usage: `rekey sync-status [--config F] [--json]

Data size of every environment's data dir (du over SSH), read-only. Exit 1 when one could not be
read (the SIZE column says why). --json: one document (schemas/sync-status.schema.json).`,
  options: OPTIONS,
  run: syncStatus,
};
