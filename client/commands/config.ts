// rekey config check / schema.
import { z } from 'zod';
import { ConfigError } from '../../config/load';
import { Config } from '../../config/schema';
import { configFacts, summarize } from '../../config/summary';
import { loadCodec } from '../../temporal/codec-keys';
import { CliError } from '../cli-error';
import { JSON_OPTION, printJson } from '../json';
import { type Command, configPath, loadCliConfig, type Options, parse } from './common';

const OPTIONS = { ...JSON_OPTION } satisfies Options;

async function configCheck(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const file = configPath(values.config);
  let cfg: Config;
  try {
    cfg = loadCliConfig(values.config);
  } catch (err) {
    if (!values.json || !(err instanceof ConfigError)) throw err;
    printJson('config-check', { file, ok: false, problems: err.located });
    return 2;
  }
  // The codec's keys are read here too, so that a missing or short key (or an unreadable keyring)
  // shows before a worker starts.
  let codec: Awaited<ReturnType<typeof loadCodec>>;
  try {
    codec = await loadCodec(cfg);
  } catch (err) {
    if (values.json) {
      printJson('config-check', {
        file,
        ok: false,
        problems: [{ path: 'codec', message: (err as Error).message }],
      });
      return 2;
    }
    throw new CliError(`${file}: ${(err as Error).message}`);
  }
  const [active, ...older] = codec?.keyIds ?? [];
  const codecFacts = codec && {
    ...(cfg.codec && 'store' in cfg.codec
      ? { keyring: { store: cfg.codec.store, secret: cfg.codec.secret } }
      : {}),
    active,
    opens: [active, ...older],
  };
  if (values.json) {
    printJson('config-check', { file, ok: true, ...configFacts(cfg), codec: codecFacts ?? null });
    return 0;
  }
  console.log(`${file}: ok`);
  console.log(summarize(cfg));
  if (codecFacts) {
    const where = codecFacts.keyring
      ? ` (keyring ${codecFacts.keyring.store}/${codecFacts.keyring.secret})`
      : '';
    console.log(`codec${where}: payloads sealed with key ${active}; opens ${codecFacts.opens.join(', ')}`);
  }
  return 0;
}

async function configSchema(): Promise<number> {
  console.log(JSON.stringify(z.toJSONSchema(Config, { io: 'input' }), null, 2));
  return 0;
}

export const check: Command = {
  usage: `rekey config check [--config F] [--json]

Validates rekey.yaml and prints a summary, or every problem with its path (exit 2). --json: the
same as one JSON document (schemas/config-check.schema.json): the summary, or each problem with
its path, line and column.`,
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
