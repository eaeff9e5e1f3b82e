// rekey history: the audit trail of rekey's runs.

import { CliError } from '../cli-error';
import { historyLine, runHistory } from '../history';
import { JSON_OPTION, printJsonLine } from '../json';
import { withClient } from '../runs/common';
import { type Command, type Options, optionalCliConfig, parse } from './common';

const OPTIONS = {
  env: { type: 'string' },
  since: { type: 'string' },
  ...JSON_OPTION,
} satisfies Options;

async function history(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const since = values.since ? new Date(values.since) : new Date(Date.now() - 30 * 86_400_000);
  if (Number.isNaN(since.getTime()))
    throw new CliError(`--since ${values.since}: not a date (2026-12-01, or 2026-12-01T06:00:00Z)`);
  const config = optionalCliConfig(values.config);
  return withClient(
    async (client) => {
      const records = await runHistory(client, {
        since,
        ...(values.env ? { env: values.env } : {}),
        ...(config ? { config } : {}),
      });
      // JSON lines: one record a line, as a SIEM ingests them (schemas/history.schema.json).
      if (values.json) for (const r of records) printJsonLine('history', r);
      else
        console.log(
          records.length ? records.map(historyLine).join('\n') : `no rekey runs since ${since.toISOString()}`,
        );
      return 0;
    },
    // The codec (when the config has one) opens the runs' payloads.
    { config },
  );
}

export const command: Command = {
  usage: `rekey history [--env E] [--since DATE] [--json] [--config F]

Read-only, the audit trail: every rekey run started since DATE (default: 30 days ago), newest
first, from Temporal: what it was asked to change, who requested it and who decided its gates
(with the fingerprints of the SSH keys that signed), its outcome, and what it changed (key
fingerprints before and after, store versions written, data copied) or put back. Signatures are
checked against the config's approvers' keys (a signer is shown only when it verifies). With --env,
only runs that change E. --json: one JSON record a line (schemas/history.schema.json), for a SIEM.
Needs no worker.

Examples:
  rekey history --since 2026-10-01
  rekey history --env prod --json`,
  options: OPTIONS,
  run: history,
};
