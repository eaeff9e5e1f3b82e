// rekey config check / schema.
import { z } from 'zod';
import { Config } from '../../config/schema';
import { summarize } from '../../config/summary';
import { type Command, configPath, loadCliConfig, type Options, parse } from './common';

const OPTIONS = {} satisfies Options;

async function configCheck(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const file = configPath(values.config);
  const cfg = loadCliConfig(values.config);
  console.log(`${file}: ok`);
  console.log(summarize(cfg));
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
