// rekey config check / schema.
import { z } from 'zod';
import { Config } from '../../config/schema';
import { summarize } from '../../config/summary';
import { loadCodec } from '../../temporal/codec-keys';
import { CliError } from '../cli-error';
import { type Command, configPath, loadCliConfig, type Options, parse } from './common';

const OPTIONS = {} satisfies Options;

async function configCheck(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const file = configPath(values.config);
  const cfg = loadCliConfig(values.config);
  // The codec's keys are read here too, so that a missing or short key (or an unreadable keyring)
  // shows before a worker starts.
  let codec: Awaited<ReturnType<typeof loadCodec>>;
  try {
    codec = await loadCodec(cfg);
  } catch (err) {
    throw new CliError(`${file}: ${(err as Error).message}`);
  }
  console.log(`${file}: ok`);
  console.log(summarize(cfg));
  if (codec) {
    const [active, ...older] = codec.keyIds;
    const where =
      cfg.codec && 'store' in cfg.codec ? ` (keyring ${cfg.codec.store}/${cfg.codec.secret})` : '';
    console.log(`codec${where}: payloads sealed with key ${active}; opens ${[active, ...older].join(', ')}`);
  }
  return 0;
}

async function configSchema(): Promise<number> {
  console.log(JSON.stringify(z.toJSONSchema(Config, { io: 'input' }), null, 2));
  return 0;
}

export const check: Command = {
  usage: `rekey config check [--config F]

Validates rekey.yaml and prints a summary, or every problem with its path (exit 2).`,
  options: OPTIONS,
  run: configCheck,
};
export const schema: Command = {
  usage: `rekey config schema

Prints the JSON Schema of rekey.yaml (for editors).`,
  options: {},
  run: async (args) => {
    parse(args, {});
    return configSchema();
  },
};
