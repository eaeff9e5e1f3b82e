// rekey quickstart: rekey on this machine with an embedded dev server.
import { CliError } from '../cli-error';
import { type Command, type Options, parse } from './common';

const OPTIONS = {
  dir: { type: 'string' },
  keep: { type: 'boolean', default: false },
} satisfies Options;

async function quickstartCommand(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  let quickstart: typeof import('../quickstart').quickstart;
  try {
    ({ quickstart } = await import('../quickstart'));
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' &&
      /@temporalio\/testing/.test(String(err))
    ) {
      throw new CliError(
        'quickstart needs the dev dependencies (@temporalio/testing runs its Temporal dev server): run `npm install` without --omit=dev',
        1,
      );
    }
    throw err;
  }
  return quickstart({ ...(values.dir ? { dir: values.dir } : {}), keep: values.keep });
}

export const command: Command = {
  usage: `rekey quickstart [--dir D] [--keep]

Tries rekey on this machine: starts a local Temporal dev server and a worker, sets up a 'local'
environment in D (default .rekey/quickstart) and rotates its key; --keep leaves the Web UI up
until Ctrl-C. Needs no cloud account.`,
  options: OPTIONS,
  run: quickstartCommand,
};
