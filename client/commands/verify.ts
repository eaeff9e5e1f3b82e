// rekey verify: read-only parity and policy check of stores and host key files.
import { createRotateActivities } from '../../activities/rotate';
import { storeRegistry } from '../../stores/drivers';
import { formatVerify } from '../format';
import { JSON_OPTION, printJson } from '../json';
import { type Command, loadCliConfig, type Options, parse } from './common';

const OPTIONS = { ...JSON_OPTION } satisfies Options;

async function verify(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const config = loadCliConfig(values.config);
  const activities = createRotateActivities({ config, store: storeRegistry(config.stores) });
  const report = await activities.verifyKeys({ includeHosts: true });
  if (values.json)
    printJson('verify', { ok: report.ok, environments: report.rows, problems: report.problems });
  else console.log(formatVerify(report));
  return report.ok ? 0 : 1;
}

export const command: Command = {
  usage: `rekey verify [--config F] [--json]

Read-only, the guide's checklist for every environment: each store's pair matches and the key
groups hold to the policy; the host's key files parse as P-256, are one pair, are the store's
current pair and have modes 0600 (0640) / 0644; stored values have LF line ends and a trailing
newline; a compose service mounts the key dir read-only where --jwt-priv-key-path and
--jwt-pub-key-path point; with environments.E.url, the running server serves the store's public
key. Each finding names the environment and the file, secret or URL. Exit 1 on any finding.
--json: one JSON document (schemas/verify.schema.json): each environment's fingerprints and
findings, and every problem.`,
  options: OPTIONS,
  run: verify,
};
