// The `rekey` command line: a dispatcher. Each command lives in client/commands/, with its own
// --help, and is loaded only when it runs. Exit codes: 0 done, 1 the run failed, 2 bad usage or
// input (or a run refused before it changed anything).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ConfigError } from '../config/load';
import { closest } from '../config/suggest';
import { connectConfig } from '../temporal/connection';
import { errorText } from '../workflows/errors';
import { CliError } from './cli-error';
import { type Command, checkArgs } from './commands/common';
import { RequestRefused, refusedBeforeAnyChange, TemporalUnreachable } from './runs/errors';

interface Entry {
  summary: string;
  load: () => Promise<Command>;
}

const COMMANDS: Record<string, Entry> = {
  quickstart: {
    summary: 'try rekey here: embedded dev server, a local environment, one rotation',
    load: async () => (await import('./commands/quickstart')).command,
  },
  rotate: {
    summary: 'rotate the JWT signing keys of environments (and their key groups)',
    load: async () => (await import('./commands/rotate')).command,
  },
  rollover: {
    summary: 'overlap rollover of a keyring: add, flip, wait the token lifetime, remove',
    load: async () => (await import('./commands/rollover')).command,
  },
  promote: {
    summary: 'copy data down a chain (prod test dev), re-signing each destination token',
    load: async () => (await import('./commands/promote')).command,
  },
  'secret rotate': {
    summary: 'rotate a secret recipe (secrets:) in an environment: write, restart, verify, revoke',
    load: async () => (await import('./commands/secret')).rotateCommand,
  },
  'secret init': {
    summary: "a secret's first value in a new environment: generate, write every location, restart, verify",
    load: async () => (await import('./commands/secret-init')).command,
  },
  'secret supply': {
    summary: 'hand a waiting run the value a person issued elsewhere (generator: manual), from stdin',
    load: async () => (await import('./commands/secret-supply')).command,
  },
  'secret status': {
    summary: "read-only: each secret's current version, age and next due date",
    load: async () => (await import('./commands/secret')).statusCommand,
  },
  respond: {
    summary: 'compromise response: rotate secrets of an environment now, revoke, write an incident record',
    load: async () => (await import('./commands/respond')).command,
  },
  'audit image': {
    summary: 'read-only: secrets baked into a container image (layer history, Env); exit 1 on findings',
    load: async () => (await import('./commands/audit')).image,
  },
  status: {
    summary: 'steps of a run, its pending gate (plan, digest) and decisions',
    load: async () => (await import('./commands/status')).command,
  },
  history: {
    summary: 'read-only: the audit trail of rekey runs: who asked, who approved, what changed',
    load: async () => (await import('./commands/history')).command,
  },
  cancel: {
    summary: 'stop a run: its undo (rollback, restore, source started again) runs first',
    load: async () => (await import('./commands/cancel')).command,
  },
  approve: {
    summary: "approve a run's gate (a signed Update)",
    load: async () => (await import('./commands/decide')).approve,
  },
  reject: { summary: "refuse a run's gate", load: async () => (await import('./commands/decide')).reject },
  expedite: {
    summary: "end a rollover's wait early",
    load: async () => (await import('./commands/decide')).expedite,
  },
  verify: {
    summary: 'read-only: pair parity, fingerprints and key-group policy',
    load: async () => (await import('./commands/verify')).command,
  },
  'schedule create': {
    summary: 'a Temporal Schedule: rotate-jwt --env E --every quarter, or rollover KEYRING',
    load: async () => (await import('./commands/schedule')).create,
  },
  'schedule list': {
    summary: 'the schedules and their next runs',
    load: async () => (await import('./commands/schedule')).list,
  },
  'schedule describe': {
    summary: 'cadence, policies, next and last runs',
    load: async () => (await import('./commands/schedule')).describe,
  },
  'schedule pause': {
    summary: 'pause a schedule [--note T]',
    load: async () => (await import('./commands/schedule')).pause,
  },
  'schedule unpause': {
    summary: 'resume a schedule',
    load: async () => (await import('./commands/schedule')).unpause,
  },
  'schedule trigger': {
    summary: 'one run now',
    load: async () => (await import('./commands/schedule')).trigger,
  },
  'schedule delete': {
    summary: 'delete a schedule',
    load: async () => (await import('./commands/schedule')).remove,
  },
  'sync-status': {
    summary: "data dir size on every environment's host (read-only)",
    load: async () => (await import('./commands/sync-status')).command,
  },
  worker: {
    summary: 'run a rekey worker until SIGINT/SIGTERM',
    load: async () => (await import('./commands/worker')).command,
  },
  'codec-server': {
    summary: 'the payload codec over HTTP for the Web UI and the temporal CLI',
    load: async () => (await import('./commands/codec-server')).command,
  },
  'codec-key init': {
    summary: "create the codec's keyring (codec: {store, secret}) with its first key",
    load: async () => (await import('./commands/codec-key')).initCommand,
  },
  'codec-key rotate': {
    summary: 'add a fresh codec key to the keyring and make it active (a workflow)',
    load: async () => (await import('./commands/codec-key')).rotateCommand,
  },
  'config check': {
    summary: 'validate rekey.yaml and summarize it',
    load: async () => (await import('./commands/config')).check,
  },
  'config schema': {
    summary: 'the JSON Schema of rekey.yaml',
    load: async () => (await import('./commands/config')).schema,
  },
  'keys install': {
    summary: "put the stores' current key pair on an environment's hosts (a rebuilt VM)",
    load: async () => (await import('./commands/keys')).installCommand,
  },
  'keys import': {
    summary: "adopt a running deployment's key pair as the first version in empty stores",
    load: async () => (await import('./commands/keys')).importCommand,
  },
  'resign-token': {
    summary: "re-sign a cli.toml's publisher token locally, keeping its identity",
    load: async () => (await import('./commands/resign-token')).command,
  },
};

const FOOTER = `--config F, where a command takes it: default ./rekey.yaml, or $REKEY_CONFIG. -h, --help.
The SpacetimeDB guide's tool flags run as \`rekey rotate\` flags (--dry-run --yes --verify-only
--resign-token-only --publisher-cli-toml-path --private-key-path): see rekey rotate --help.
Temporal connection: TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
TEMPORAL_TLS_* or a temporal.toml profile. REKEY_TASK_QUEUE overrides the task queue ("rekey").
Exit codes: 0 done, 1 the run failed, 2 bad usage or input, or a run refused before any change.`;

function version(): string {
  // dist/client/cli.js and client/cli.ts both sit two levels below package.json.
  for (const up of ['../..', '..']) {
    try {
      return JSON.parse(readFileSync(join(__dirname, up, 'package.json'), 'utf8')).version;
    } catch {}
  }
  return 'unknown';
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`);
  return `rekey: secret rotation and data promotion runbooks as durable Temporal workflows

Usage: rekey <command> [options]      rekey <command> --help for its options and examples
       rekey --version

Commands:
${lines.join('\n')}

${FOOTER}`;
}

export async function run(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '-h' || argv[0] === '--help' || argv[0] === 'help') {
    console.log(help());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    console.log(`rekey ${version()}`);
    return 0;
  }
  const found = resolve(argv);
  if ('unknown' in found) {
    console.error(found.unknown);
    return 2;
  }
  if ('group' in found) {
    // `--help` asked for it: stdout, exit 0; a bare or wrong group word: stderr, exit 2.
    (found.ok ? console.log : console.error)(found.group);
    return found.ok ? 0 : 2;
  }
  const { entry, rest } = found;
  try {
    const command = await entry.load();
    if (rest.includes('-h') || rest.includes('--help')) {
      console.log(`${command.usage}\n\n${FOOTER}`);
      return 0;
    }
    return await command.run(rest);
  } catch (err) {
    return reportError(err);
  }
}

/** The command `argv` names (one or two words) and its arguments, or why there is none. */
function resolve(
  args: string[],
): { entry: Entry; rest: string[] } | { unknown: string } | { group: string; ok: boolean } {
  // A global option before the command goes after it: `rekey --config F rotate ...`.
  const global = args[0] === '--config' ? 2 : args[0]?.startsWith('--config=') ? 1 : 0;
  const argv = [...args.slice(global), ...args.slice(0, global)];
  const two = argv.slice(0, 2).join(' ');
  const [name, rest] = two in COMMANDS ? [two, argv.slice(2)] : [argv[0] as string, argv.slice(1)];
  const entry = COMMANDS[name];
  if (entry) return { entry, rest };
  // A group (`rekey secret`, `rekey secret --help`): its commands, with their summaries.
  const group = Object.entries(COMMANDS).filter(([c]) => c.startsWith(`${argv[0]} `));
  if (group.length > 0) {
    const width = Math.max(...group.map(([c]) => c.length)) + 2;
    const lines = group.map(([c, e]) => `  rekey ${c.padEnd(width)}${e.summary}`);
    const asked = argv[1] === undefined || argv[1] === '-h' || argv[1] === '--help';
    return {
      // An option where the command should be (`rekey config --config F`) names no command.
      group: `${asked || argv[1]?.startsWith('-') ? '' : `rekey: unknown command "${argv[0]} ${argv[1]}"\n`}rekey ${argv[0]}: one of\n${lines.join('\n')}\n(rekey ${argv[0]} <command> --help for its options)`,
      ok: asked && argv[1] !== undefined,
    };
  }
  const known = [...new Set(Object.keys(COMMANDS).map((c) => c.split(' ')[0] as string))];
  const guess = closest(argv[0] as string, known);
  return {
    unknown: `rekey: unknown command "${argv[0]}"${guess ? `; did you mean \`${guess}\`?` : ''} (see rekey --help)`,
  };
}

/** Whether `argv` is a command line rekey accepts (command, options, argument count), without
 * running it: the README's examples are checked with this. */
export async function accepts(argv: string[]): Promise<true | string> {
  const found = resolve(argv);
  if ('unknown' in found) return found.unknown;
  if ('group' in found) return found.ok ? true : found.group;
  try {
    checkArgs(await found.entry.load(), found.rest);
    return true;
  } catch (err) {
    return (err as Error).message;
  }
}

function reportError(err: unknown): number {
  if (err instanceof CliError) {
    console.error(`rekey: ${err.message}`);
    return err.exitCode;
  }
  // The library's refusals (nothing was changed) and an unreachable server.
  if (err instanceof RequestRefused) {
    console.error(`rekey: ${err.message}`);
    return 2;
  }
  if (err instanceof TemporalUnreachable) {
    console.error(`rekey: ${err.message}`);
    return 1;
  }
  if (err instanceof ConfigError) {
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
  if (err instanceof WorkflowNotFoundError) {
    const { connectionOptions, namespace } = connectConfig();
    console.error(
      `rekey: no run "${err.workflowId}" in namespace ${namespace} at ${connectionOptions.address}`,
    );
    return 2;
  }
  if (err instanceof WorkflowFailedError) {
    console.error(`rekey: the run failed: ${errorText(err)}`);
    return refusedBeforeAnyChange(err) ? 2 : 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  // Temporal's own authorization refused the call (gRPC PERMISSION_DENIED or UNAUTHENTICATED).
  const denied = grpcCause(err);
  if (denied) {
    const { connectionOptions, namespace } = connectConfig();
    console.error(
      `rekey: ${message}: the Temporal server at ${connectionOptions.address} refused it (${denied}): ${
        connectionOptions.apiKey
          ? `the token rekey presented (TEMPORAL_API_KEY or the profile's api_key) has no write on namespace ${namespace}, or has expired: get a new one`
          : `give rekey a token with write on namespace ${namespace} (TEMPORAL_API_KEY, or a temporal.toml profile)`
      }`,
    );
    return 2;
  }
  if (/binary\/encrypted/.test(message)) {
    console.error(
      `rekey: ${message}: the run's payloads are sealed with a codec; use the config that has it (--config F or REKEY_CONFIG)`,
    );
    return 2;
  }
  console.error(`rekey: ${message}`);
  return 1;
}

/** The server's words when it refused a call for want of permission (codes 7 and 16). */
function grpcCause(err: unknown): string | undefined {
  for (let c: unknown = err; c instanceof Error; c = c.cause) {
    const code = (c as { code?: unknown }).code;
    if (code === 7 || code === 16)
      return `${code === 7 ? 'permission denied' : 'unauthenticated'}: ${c.message}`;
  }
  return undefined;
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

if (require.main === module) main(process.argv.slice(2));
