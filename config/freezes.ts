// freezes: in rekey.yaml: periods in which nothing changes the environments they name (a release,
// the year's end). A run whose environments are frozen refuses at its start unless its starter
// overrides the freeze with a reason (--override-freeze REASON, recorded in the run and its
// events); a run a schedule started waits, durably, until the freeze ends.
import { z } from 'zod';
import { didYouMean } from './suggest';

export const Freeze = z
  .strictObject({
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
    /** The environments it holds (all when left out). */
    environments: z
      .array(z.string().regex(/^[A-Za-z0-9_-]+$/))
      .min(1)
      .optional(),
    reason: z.string().min(1).max(200),
  })
  .refine((f) => Date.parse(f.from) < Date.parse(f.to), { message: 'from must be before to', path: ['to'] });
export type FreezeConfig = z.infer<typeof Freeze>;

/** A freeze holding one of `environments` at `at`: the one that ends last. */
export interface ActiveFreeze {
  name: string;
  until: string;
  reason: string;
  /** Those of the environments asked about that it holds. */
  environments: string[];
}

export function activeFreeze(
  freezes: Record<string, FreezeConfig>,
  environments: readonly string[],
  at: number,
): ActiveFreeze | undefined {
  let found: ActiveFreeze | undefined;
  for (const [name, f] of Object.entries(freezes)) {
    const holds = !f.environments || environments.some((e) => f.environments?.includes(e));
    if (!holds || at < Date.parse(f.from) || at >= Date.parse(f.to)) continue;
    if (!found || Date.parse(f.to) > Date.parse(found.until))
      found = {
        name,
        until: new Date(Date.parse(f.to)).toISOString(),
        reason: f.reason,
        environments: environments.filter((e) => !f.environments || f.environments.includes(e)),
      };
  }
  return found;
}

type Issue = (path: (string | number)[], message: string) => void;

export function checkFreezes(
  freezes: Record<string, FreezeConfig>,
  environments: string[],
  issue: Issue,
): void {
  for (const [name, f] of Object.entries(freezes))
    f.environments?.forEach((e, i) => {
      if (!environments.includes(e))
        issue(
          ['freezes', name, 'environments', i],
          `unknown environment "${e}"${didYouMean(e, environments)}`,
        );
    });
}

/** What a run refused by a freeze says, from the CLI or the worker. */
export const frozenText = (f: ActiveFreeze) =>
  `${f.environments.join(', ')} ${f.environments.length > 1 ? 'are' : 'is'} frozen until ${f.until} (freeze ${f.name}: ${f.reason}); nothing was changed: wait for its end, or start it with --override-freeze REASON (recorded in the run and its events)`;
