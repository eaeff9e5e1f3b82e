// rekey schedule: Temporal Schedules for recurring rotations and rollovers.
import type { Client, ScheduleHandle } from '@temporalio/client';
import type { Config } from '../../config/schema';
import { checkWindow, type RunWindow } from '../../config/windows';
import { CliError } from '../cli-error';
import { JSON_OPTION, printJson } from '../json';
import { expandToKeyGroups, withClient } from '../runs/common';
import { checkSecret } from '../runs/secret';
import {
  createCodecKeySchedule,
  createRolloverSchedule,
  createRotationSchedule,
  createSecretSchedule,
  createSecretsDueSchedule,
  createSecretWatchSchedule,
  formatSchedule,
  scheduleDoc,
} from '../schedules';
import {
  type Command,
  confirmStart,
  loadCliConfig,
  type Options,
  optionalCliConfig,
  parse,
  requester,
  runIdArg,
} from './common';

const CREATE_OPTIONS = {
  env: { type: 'string', multiple: true },
  every: { type: 'string' },
  yes: { type: 'boolean', default: false },
  as: { type: 'string' },
  key: { type: 'string' },
  window: { type: 'string', multiple: true },
  'time-zone': { type: 'string' },
  outside: { type: 'string' },
} satisfies Options;

/** --window SPAN [--window SPAN] [--time-zone TZ] [--outside wait|skip]: checked with the schedule. */
function windowOption(
  values: { window?: string[]; 'time-zone'?: string; outside?: string },
  kind: string,
): RunWindow | undefined {
  if (!values.window?.length) {
    if (values['time-zone'] || values.outside)
      throw new CliError('--time-zone and --outside go with --window "mon-fri 09:00-17:00"');
    return undefined;
  }
  if (kind === 'codec-key' || kind === 'secret-watch')
    throw new CliError(`schedule create ${kind} takes no --window: its runs change no environment`);
  const checked = checkWindow({
    allow: values.window,
    timeZone: values['time-zone'] ?? 'UTC',
    outside: values.outside ?? 'wait',
  });
  if ('problem' in checked) throw new CliError(`--window: ${checked.problem}`);
  return checked.window;
}
const ACTION_OPTIONS = { note: { type: 'string' } } satisfies Options;

/** Refuses, unless `yes`, a schedule whose runs would change `environments` with no gate to stop
 * them (creating it changes nothing: its runs meet the freezes when they start). */
const unattended = (yes: boolean, config: Config, environments: string[], what: string) =>
  confirmStart(
    { yes },
    config,
    [environments],
    `${what} unattended: pass --yes, or require an approval for ${environments.join(', ')} (approvals.requiredFor)`,
    [],
  );

/** Creates the schedule `make` makes, and prints it. */
const created = (config: Config, make: (client: Client) => Promise<ScheduleHandle>) =>
  withClient(
    async (client) => {
      console.log(formatSchedule(await (await make(client)).describe()));
      return 0;
    },
    { config },
  );

async function scheduleCreate(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, CREATE_OPTIONS, 2);
  const every = values.every;
  if (!every) throw new CliError('schedule create needs --every PERIOD');
  const config = loadCliConfig(values.config);
  const window = windowOption(values, positionals[0] ?? '');
  if (positionals[0] === 'secret-watch') {
    if (values.env || values.as)
      throw new CliError('schedule create secret-watch takes no --env or --as: it reads every secret recipe');
    // Reads and announces; changes nothing: no --yes.
    return created(config, (client) => createSecretWatchSchedule(client, config, { every }));
  }
  if (positionals[0] === 'rollover') {
    const keyring = positionals[1];
    if (!keyring) throw new CliError('schedule create rollover needs a keyring name');
    if (!values.yes)
      throw new CliError(`scheduled rollovers change keyring ${keyring} unattended: pass --yes`);
    return created(config, (client) => createRolloverSchedule(client, config, { keyring, every, window }));
  }
  if (positionals[0] === 'secret') {
    const secret = positionals[1];
    const environment = values.env?.[0];
    if (!secret || !environment || values.env?.length !== 1)
      throw new CliError('schedule create secret needs a secret name and one --env E');
    checkSecret(config, secret, environment);
    unattended(
      values.yes,
      config,
      [environment],
      `scheduled rotations of ${secret} in ${environment} would change it`,
    );
    return created(config, (client) =>
      createSecretSchedule(client, config, {
        secret,
        environment,
        every,
        as: requester(values),
        window,
      }),
    );
  }
  if (positionals[0] === 'secrets-due') {
    const environment = values.env?.[0];
    if (!environment || values.env?.length !== 1)
      throw new CliError('schedule create secrets-due needs one --env E');
    if (!(environment in config.environments)) throw new CliError(`unknown environment "${environment}"`);
    unattended(
      values.yes,
      config,
      [environment],
      `scheduled runs over the secrets due in ${environment} would change them`,
    );
    return created(config, (client) =>
      createSecretsDueSchedule(client, config, {
        environment,
        every,
        as: requester(values),
        window,
      }),
    );
  }
  if (positionals[0] === 'codec-key') {
    // Adds a key and removes none: nothing to approve, so no --yes.
    return created(config, (client) => createCodecKeySchedule(client, config, { every }));
  }
  if (positionals[0] !== 'rotate-jwt')
    throw new CliError(
      'schedule create takes rotate-jwt, rollover KEYRING, secret NAME, secrets-due, codec-key or secret-watch',
    );
  if (!values.env?.length) throw new CliError('schedule create rotate-jwt needs --env E');
  const environments = expandToKeyGroups(config, values.env);
  unattended(
    values.yes,
    config,
    environments,
    `scheduled rotations of ${environments.join(', ')} would change keys`,
  );
  return created(config, (client) =>
    createRotationSchedule(client, config, {
      environments,
      every,
      as: requester(values),
      window,
    }),
  );
}

function scheduleCommand(
  action: (handle: ScheduleHandle, values: { note?: string }) => Promise<string | undefined>,
): (args: string[]) => Promise<number> {
  return async (args) => {
    const { values, positionals } = parse(args, ACTION_OPTIONS, 1);
    const id = runIdArg(positionals, 'schedule');
    return withClient(
      async (client) => {
        const out = await action(client.schedule.getHandle(id), values);
        if (out) console.log(out);
        return 0;
      },
      { config: optionalCliConfig(values.config) },
    );
  };
}

async function scheduleList(json: boolean): Promise<number> {
  return withClient(async (client) => {
    const schedules = [];
    for await (const s of client.schedule.list()) {
      const next = s.info.nextActionTimes[0]?.toISOString();
      if (json)
        schedules.push({ scheduleId: s.scheduleId, paused: s.state.paused, ...(next ? { next } : {}) });
      else console.log(`${s.scheduleId}  ${s.state.paused ? 'paused' : 'active'}  next ${next ?? 'none'}`);
    }
    if (json) printJson('schedule-list', { schedules });
    return 0;
  });
}

const usage = `rekey schedule create rotate-jwt --env E [--env E ...] --every PERIOD
                              [--as NAME [--key FILE]] [--yes] [WINDOW]
rekey schedule create rollover KEYRING --every PERIOD --yes [WINDOW]
rekey schedule create secret NAME --env E --every PERIOD [--as NAME [--key FILE]] [--yes] [WINDOW]
rekey schedule create secrets-due --env E --every PERIOD [--as NAME [--key FILE]] [--yes] [WINDOW]
rekey schedule create codec-key --every PERIOD
rekey schedule create secret-watch --every day
rekey schedule list [--json] | describe ID [--json] | pause ID [--note T] | unpause ID | trigger ID | delete ID

PERIOD: quarter, month, week, day, or a number of days (90d). WINDOW:
  --window "mon-fri 09:00-17:00" [--window ...] [--time-zone Europe/Berlin] [--outside wait|skip]

A Temporal Schedule that rotates those environments (or rolls over a keyring, rotates a secret
recipe in an environment, or the payload codec's keyring) at 06:00 UTC on the first day of each
period, or every N days (90d, 180d: at 06:00 UTC, counted from 1970-01-01). A run still going
when the next is due is skipped; missed runs are caught up within a day. A scheduled rotation of
environments (or of a secret) without an approval gate, and every scheduled rollover, needs
--yes at creation (they change keys unattended). create takes --config F. --json: list and
describe as one JSON document (schemas/schedule-list.schema.json, schemas/schedule.schema.json).

--window: the days and local hours in which its runs may change anything (days sun..sat, ranges
such as mon-fri and lists such as sat,sun; hours HH:MM-HH:MM, past midnight allowed; the time
zone an IANA name, UTC by default). A run started outside them waits (durably, its step "window"
in the Web UI says until when) for the next opening, or with --outside skip plans as a dry run,
changes nothing and is announced as skipped (notify: schedule.skipped). Freezes (freezes: in
rekey.yaml) hold scheduled runs too: they wait for the freeze's end.

secrets-due: each run rotates every secret of E that is due then, in one run (as rekey secret
rotate --due --env E does: one gate, each consumer restarted once); nothing due, nothing changes.

secret-watch: every day, reads each secret recipe's state (as rekey secret status does) and
announces through notify: each secret due within notify.dueWithin (once) and each overdue (every
day until rotated). It changes nothing.

Examples:
  rekey schedule create rotate-jwt --env prod --every quarter --as alice
  rekey schedule create secret db-password --env prod --every month --yes \\
    --window "tue-thu 10:00-16:00" --time-zone Europe/Berlin
  rekey schedule create secrets-due --env prod --every day --yes --window "mon-fri 10:00-16:00"`;

export const create: Command = { usage, options: CREATE_OPTIONS, positionals: 2, run: scheduleCreate };
export const list: Command = {
  usage,
  options: JSON_OPTION,
  run: async (args) => scheduleList(parse(args, JSON_OPTION).values.json),
};
/** A command on one schedule: `rekey schedule <action> ID`. */
const onSchedule = (action: Parameters<typeof scheduleCommand>[0]): Command => ({
  usage,
  options: ACTION_OPTIONS,
  positionals: 1,
  run: scheduleCommand(action),
});

export const describe: Command = {
  usage,
  options: JSON_OPTION,
  positionals: 1,
  run: async (args) => {
    const { values, positionals } = parse(args, JSON_OPTION, 1);
    const id = runIdArg(positionals, 'schedule');
    return withClient(async (client) => {
      const d = await client.schedule.getHandle(id).describe();
      if (values.json) printJson('schedule', scheduleDoc(d));
      else console.log(formatSchedule(d));
      return 0;
    });
  },
};
export const pause = onSchedule(async (h, v) => {
  await h.pause(v.note ?? 'paused with rekey');
  return `paused ${h.scheduleId}`;
});
export const unpause = onSchedule(async (h) => {
  await h.unpause();
  return `unpaused ${h.scheduleId}`;
});
export const trigger = onSchedule(async (h) => {
  await h.trigger();
  return `triggered ${h.scheduleId}: a run starts now; its workflow id shows in rekey schedule describe ${h.scheduleId}`;
});
export const remove = onSchedule(async (h) => {
  await h.delete();
  return `deleted ${h.scheduleId}`;
});
