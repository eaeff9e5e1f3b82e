// rekey config check / schema.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { Config } from '../../config/schema';
import { summarize } from '../../config/summary';
import { type Command, configPath, loadCliConfig } from './common';

async function configCheck(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
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
  run: configCheck,
};
export const schema: Command = {
  usage: `rekey config schema

Prints the JSON Schema of rekey.yaml (for editors).`,
  run: () => configSchema(),
};
