// Pieces every command shares: where the config is, who starts a run, run ids, local files.
import { existsSync, readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { gatesCover } from '../../config/approvals';
import { activeFreeze, frozenText } from '../../config/freezes';
import { loadConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import { closest } from '../../config/suggest';
import { CliError } from '../cli-error';
import type { Requester } from '../runs/common';

/** The options a command takes, as node:util's parseArgs reads them. */
export type Options = NonNullable<ParseArgsConfig['options']>;

/** A command: its --help text, the options and positional arguments it takes, and what it
 * does; the dispatcher loads it only when it is run. */
export interface Command {
  usage: string;
  options: Options;
  /** How many positional arguments it takes (0 unless said). */
  positionals?: number;
  run(args: string[]): Promise<number>;
}

/** The options of every command that starts a run (rotate, promote, rollover). */
export const START_OPTIONS = {
  'dry-run': { type: 'boolean', default: false },
  yes: { type: 'boolean', default: false },
  wait: { type: 'boolean', default: false },
  as: { type: 'string' },
  key: { type: 'string' },
  // One JSON document (schemas/run.schema.json) instead of the text: client/commands/announce.ts.
  json: { type: 'boolean', default: false },
  'override-freeze': { type: 'string' },
} satisfies Options;

/** The --help of START_OPTIONS' --json and --override-freeze, as each start command shows it. */
export const START_HELP = `--json: one JSON document (schemas/run.schema.json) instead of the text: the run's id, its gate
(digest, approvers, the command to decide it), and with --wait or --dry-run how it ended and its
result (a dry run's plan).

--override-freeze REASON: start it during a freeze of one of its environments (freezes: in
rekey.yaml); the reason is recorded in the run and its events. Without it such a run is refused
(exit 2); a run a schedule starts waits for the freeze to end.`;

/** What a start command adds to its run's input from --override-freeze. */
export const freezeOverride = (values: { 'override-freeze'?: string }) =>
  values['override-freeze'] ? { overrideFreeze: values['override-freeze'] } : {};

/**
 * Parses a command's arguments: its options anywhere among its positionals, plus --config,
 * which every command accepts (global). Unknown options and extra arguments are usage errors.
 */
export function parse<O extends Options>(args: string[], options: O, positionals = 0) {
  const all = { ...options, config: { type: 'string' } } as O & { config: { type: 'string' } };
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof all; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args, options: all, allowPositionals: true, strict: true });
  } catch (err) {
    const unknown = /Unknown option '(--?[^']+)'/.exec((err as Error).message)?.[1];
    if (!unknown) throw err;
    const guess = closest(unknown.replace(/^-+/, ''), Object.keys(all));
    throw new CliError(`unknown option ${unknown}${guess ? `; did you mean --${guess}?` : ''} (see --help)`);
  }
  const extra = parsed.positionals[positionals];
  if (extra !== undefined) throw new CliError(`unexpected argument "${extra}"; see --help`);
  return parsed;
}

/** Checks `args` against `command` without running it (the README's examples test uses this). */
export function checkArgs(command: Command, args: string[]): void {
  parse(args, command.options, command.positionals);
}

export function configPath(value: string | undefined): string {
  return value ?? process.env.REKEY_CONFIG ?? 'rekey.yaml';
}

/** For commands that work without a config but use its codec when there is one: the config
 * named by --config (which must exist), else $REKEY_CONFIG or ./rekey.yaml when present. */
export function optionalCliConfig(value: string | undefined): Config | undefined {
  return value || existsSync(configPath(undefined)) ? loadCliConfig(value) : undefined;
}

/** The config named by --config, else $REKEY_CONFIG, else ./rekey.yaml; a missing file says
 * where rekey looked and how to start one. */
export function loadCliConfig(value: string | undefined): Config {
  const file = configPath(value);
  if (!existsSync(file)) {
    const how = value
      ? `--config ${value}`
      : process.env.REKEY_CONFIG
        ? `REKEY_CONFIG=${process.env.REKEY_CONFIG}`
        : `./rekey.yaml (no --config given, REKEY_CONFIG not set)`;
    throw new CliError(
      `no config file: rekey looked for ${how} in ${process.cwd()}; start from rekey.example.yaml (cp rekey.example.yaml rekey.yaml, then edit it), or try rekey quickstart first`,
    );
  }
  return loadConfig(file);
}

/** --as NAME [--key FILE]: who starts the run (signed when NAME has a configured key). */
export function requester(values: { as?: string; key?: string }): Requester | undefined {
  if (values.key && !values.as) throw new CliError('--key signs the request of --as NAME: give --as too');
  return values.as ? { name: values.as, ...(values.key ? { keyFile: values.key } : {}) } : undefined;
}

/** A start that changes something goes ahead with --yes, or when every run it starts waits at an
 * approval gate (`runs`: each run's environments; config/approvals.ts has the rule); a dry run
 * changes nothing. Otherwise `refusal` says what would change and how to go ahead. Returns whether
 * the runs wait at gates (what the CLI announces, and tells each run to expect). */
export function confirmStart(
  values: { 'dry-run'?: boolean; yes?: boolean; 'override-freeze'?: string },
  config: Config,
  runs: readonly (readonly string[])[],
  refusal: string,
  /** What the runs change, where that is not all of `runs` (a promotion's destinations). */
  changes: readonly string[] = runs.flat(),
): boolean {
  // A freeze (config/freezes.ts) holds every run but a dry run, unless overridden with a reason.
  if (!values['dry-run'] && values['override-freeze'] === undefined) {
    const environments = [...new Set(changes)];
    const frozen = activeFreeze(config.freezes, environments, Date.now());
    if (frozen) throw new CliError(frozenText(frozen));
  }
  if (values['override-freeze'] !== undefined && !values['override-freeze'].trim())
    throw new CliError('--override-freeze needs a reason (it is recorded in the run and its events)');
  const gated = gatesCover(config, runs);
  if (!values['dry-run'] && !values.yes && !gated) throw new CliError(refusal);
  return gated;
}

export function runIdArg(positionals: string[], command: string): string {
  const [id] = positionals;
  if (!id) throw new CliError(`${command} needs a workflow id, e.g. rotate-jwt/prod`);
  return id;
}

export function readLocal(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`${path}: cannot read the ${what} (${(err as NodeJS.ErrnoException).code})`);
  }
}
