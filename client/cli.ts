// The `rekey` command line. Exit codes: 0 done, 1 the run failed, 2 bad usage or input.
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { writeFileAtomicSync } from '../activities/local-files';
import { resignCliToml } from '../activities/tokens';
import { ConfigError, loadConfig } from '../config/load';
import { Config } from '../config/schema';
import { summarize } from '../config/summary';

export class UsageError extends Error {}

const HELP = `rekey: secret rotation and data promotion runbooks as durable Temporal workflows

Usage: rekey <command> [options]

Commands:
  config check [--config F]    validate rekey.yaml; print a summary or every problem with its path
  config schema                print the JSON Schema of rekey.yaml (for editors)
  resign-token --cli-toml P --private-key P [--field NAME]
                               re-sign the publisher token in a cli.toml with a private key, keeping
                               its identity (iss, sub, aud, hex_identity); local, no Temporal needed.
                               Use it on a destination after copying data from another environment.

Options:
  --config F   rekey.yaml to use (default: ./rekey.yaml, or $REKEY_CONFIG)
  -h, --help   this help

Exit codes: 0 done, 1 the run failed, 2 bad usage or input.`;

type Handler = (args: string[]) => Promise<number>;

function configPath(value: string | undefined): string {
  return value ?? process.env.REKEY_CONFIG ?? 'rekey.yaml';
}

async function configCheck(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
  const file = configPath(values.config);
  const cfg = loadConfig(file);
  console.log(`${file}: ok`);
  console.log(summarize(cfg));
  return 0;
}

async function configSchema(): Promise<number> {
  console.log(JSON.stringify(z.toJSONSchema(Config, { io: 'input' }), null, 2));
  return 0;
}

async function resignToken(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'cli-toml': { type: 'string' },
      'private-key': { type: 'string' },
      field: { type: 'string', default: 'spacetimedb_token' },
    },
  });
  const tomlPath = values['cli-toml'];
  const keyPath = values['private-key'];
  if (!tomlPath || !keyPath) throw new UsageError('resign-token needs --cli-toml P and --private-key P');
  const text = readLocal(tomlPath, 'cli.toml');
  const privatePem = readLocal(keyPath, 'private key');
  const result = await resignCliToml(text, privatePem, values.field, tomlPath);
  if (result.changed) writeFileAtomicSync(tomlPath, result.text, statSync(tomlPath).mode & 0o777);
  const id = result.after;
  console.log(`${tomlPath}: ${result.changed ? 're-signed' : 'already signed by this key; unchanged'}`);
  console.log(
    `identity kept: iss=${id.iss} sub=${id.sub}${id.hexIdentity ? ` hex_identity=${id.hexIdentity}` : ''}`,
  );
  return 0;
}

function readLocal(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${path}: cannot read the ${what} (${(err as NodeJS.ErrnoException).code})`);
  }
}

const COMMANDS: Record<string, Handler> = {
  'config check': configCheck,
  'config schema': configSchema,
  'resign-token': resignToken,
};

export async function run(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '-h' || argv[0] === '--help' || argv[0] === 'help') {
    console.log(HELP);
    return argv.length === 0 ? 2 : 0;
  }
  const two = argv.slice(0, 2).join(' ');
  const [name, rest] = two in COMMANDS ? [two, argv.slice(2)] : [argv[0] as string, argv.slice(1)];
  const handler = COMMANDS[name];
  if (!handler) {
    console.error(`rekey: unknown command "${argv.join(' ')}"; see rekey --help`);
    return 2;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    console.log(HELP);
    return 0;
  }
  try {
    return await handler(rest);
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof ConfigError || err instanceof UsageError) {
    console.error(`rekey: ${err.message}`);
    return 2;
  }
  if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
    console.error(`rekey: ${err.message}; see rekey --help`);
    return 2;
  }
  if (err instanceof ApplicationFailure) {
    console.error(`rekey: ${err.message}`);
    return err.type === 'BadInput' ? 2 : 1;
  }
  console.error(`rekey: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
}

export function main(argv: string[]): void {
  run(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
