// rekey config check / schema.
import { z } from 'zod';
import { Config } from '../../config/schema';
import { summarize } from '../../config/summary';
import { codecOf } from '../../worker/codec-keys';
import { CliError } from '../cli-error';
import { type Command, configPath, loadCliConfig, type Options, parse } from './common';

const OPTIONS = {} satisfies Options;

async function configCheck(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const file = configPath(values.config);
  const cfg = loadCliConfig(values.config);
  // The codec's keys are read here too, so that a missing or short key shows before a worker starts.
  try {
    codecOf(cfg);
  } catch (err) {
    throw new CliError(`${file}: ${(err as Error).message}`);
  }
  console.log(`${file}: ok`);
  console.log(summarize(cfg));
  if (cfg.codec)
    console.log(
      `codec: payloads sealed with key ${cfg.codec.active}; opens ${Object.keys(cfg.codec.keys).join(', ')}`,
    );
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
