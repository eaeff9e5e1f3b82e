// rekey verify: read-only parity and policy check of stores and host key files.
import { createRotationActivities } from '../../activities/library';
import { storeRegistry } from '../../worker/worker';
import { formatVerify } from '../format';
import { type Command, loadCliConfig, type Options, parse } from './common';

const OPTIONS = {} satisfies Options;

async function verify(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const config = loadCliConfig(values.config);
  const activities = createRotationActivities({ config, store: storeRegistry(config) });
  const report = await activities.verifyKeys({ includeHosts: true });
  console.log(formatVerify(report));
  return report.ok ? 0 : 1;
}

export const command: Command = {
  usage: `rekey verify [--config F]

Read-only: pair parity, fingerprints and key-group policy of every environment's store and host
key files. Exit 1 when a problem is found.`,
  options: OPTIONS,
  run: verify,
};
