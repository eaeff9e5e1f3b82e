// A run's first check, before its plan: the worker's rekey.yaml is the one its starter used, in
// what the run uses (activities/starter-config.ts). Runs recorded before replay without it.
import { patched, proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { StarterConfigActivities } from '../activities/starter-config';
import { frozenText } from '../config/freezes';
import type { RunKind } from '../config/run-config';
import { type RunWindow, windowAt, windowText } from '../config/windows';
import { FailureType, fail } from '../shared/failures';
import { localRead, shortActivity } from './activity-options';
import { errorText } from './errors';
import { freezeOverridden, notifyOn, runSkipped } from './notify';
import type { ProgressTracker } from './progress';
import { startingSchedule } from './scheduled';

const acts = proxyActivities<StarterConfigActivities>(shortActivity);
/** Run by the worker that runs the workflow task (runs recorded before reads-not-local). */
const reads = proxyLocalActivities<StarterConfigActivities>(localRead);

/** A run outside its window that was told to skip it: why. The run goes on as a dry run (it plans,
 * changes nothing) and its result says why. */
export interface Skipped {
  skipped: string;
}

/**
 * Also where the run learns which events to emit (workflows/notify.ts), whether a freeze holds
 * its environments (config/freezes.ts) and whether its window (config/windows.ts) is open. A
 * freeze refuses a run its starter started, unless the starter overrode it (recorded in its steps
 * and its events); a run a schedule started waits, durably, until the freeze ends, and looks
 * again. Outside its window a run waits for the next opening, or ends skipped, as its window says.
 * A dry run changes nothing: neither holds it.
 */
export async function checkStarterConfig(
  run: RunKind,
  starter: Record<string, string> | undefined,
  opts: { overrideFreeze?: string; dryRun?: boolean; tracker?: ProgressTracker; window?: RunWindow } = {},
): Promise<Skipped | undefined> {
  if (!patched('starter-config-checked')) return;
  // The workflow's clock: a freeze is looked up at the time the run sees (and replays).
  const check = () =>
    acts.checkStarterConfig({ run, ...(starter ? { starter } : {}), at: Date.now(), refusalAsResult: true });
  // Refused once the events are known, so that the refusal is announced (earlier workers threw).
  const refuse = <T extends { refused?: string } | undefined>(c: T): T => {
    if (c?.refused) throw fail(FailureType.BadInput, c.refused);
    return c;
  };
  // Results recorded before the check said which events (void) emit none.
  let checked = await check();
  notifyOn(checked?.notify);
  refuse(checked);
  if (opts.dryRun) return;
  let waited: string | undefined;
  for (;;) {
    const w = opts.window && openNow(opts.window);
    // Told to skip outside its window, a run does not first wait out a freeze.
    if (opts.window && w && !w.open && opts.window.outside === 'skip') return skip(opts.window, opts.tracker);
    const f = checked?.frozen;
    if (f && !opts.overrideFreeze) {
      const what = `freeze ${f.name} until ${f.until} (${f.reason})`;
      if (!startingSchedule()) throw fail(FailureType.BadInput, frozenText(f));
      opts.tracker?.set('freeze', 'running', `scheduled run waiting for the end of ${what}`);
      // At least hourly: a freeze ended early (rekey.yaml edited, the worker restarted) lets it go.
      await sleep(Math.min(3600_000, Math.max(1000, Date.parse(f.until) - Date.now())));
      checked = refuse(await check());
      if (!checked?.frozen) opts.tracker?.set('freeze', 'done', `waited for the end of ${what}`);
      continue;
    }
    if (f && opts.overrideFreeze) {
      const what = `freeze ${f.name} until ${f.until} (${f.reason})`;
      opts.tracker?.set('freeze', 'done', `${what} overridden: ${opts.overrideFreeze}`);
      freezeOverridden(`${what}: ${opts.overrideFreeze}`);
    }
    if (!opts.window || !w || w.open) {
      if (waited) opts.tracker?.set('window', 'done', waited);
      return;
    }
    const outside = `started outside its window ${windowText(opts.window)}`;
    const opens = new Date(w.opensAt).toISOString();
    opts.tracker?.set('window', 'running', `${outside}: waiting until it opens at ${opens}`);
    await sleep(w.opensAt - Date.now(), { summary: `wait for the window (${opens})` });
    waited = `${outside}: waited until it opened at ${opens}`;
    // The freezes may have changed meanwhile.
    checked = refuse(await check());
  }
}

/** Whether `window` is open now (the workflow clock); a window that cannot open is bad input. */
function openNow(window: RunWindow): ReturnType<typeof windowAt> {
  try {
    return windowAt(window, Date.now());
  } catch (err) {
    throw fail(FailureType.BadInput, errorText(err));
  }
}

/** Outside its window and told to skip: recorded in its steps and its outcome's event. */
function skip(window: RunWindow, tracker: ProgressTracker | undefined): Skipped {
  const skipped = `started outside its window ${windowText(window)}: skipped (planned as a dry run), nothing was changed`;
  tracker?.set('window', 'skipped', skipped);
  runSkipped(skipped);
  return { skipped };
}

/** A hop's events: its gates (its promotion reports how it ended). Runs recorded before replay
 * without asking. */
export async function hopNotifications(from: string, to: string): Promise<void> {
  if (!patched('hop-notify-routing')) return;
  // Not a local activity for new runs (see rotate-secret.ts, reads-not-local).
  const routing = patched('reads-not-local') ? acts : reads;
  const routed = await routing.notifyRouting({ run: { kind: 'promote', chain: [from, to] } });
  notifyOn(routed?.notify, { runEvents: false });
}

/**
 * Refuses (nothing changed) a run whose starter announced a gate the worker's config does not have,
 * or the other way round: the worker reads rekey.yaml only at start. `starterSays` and
 * `workerSays` name what each config gates ("prod, test", "keyring api").
 */
export function checkExpectedGate(
  expected: boolean | undefined,
  gated: boolean,
  starterSays: string,
  workerSays: string,
): void {
  if (expected === undefined || expected === gated) return;
  throw fail(
    FailureType.BadInput,
    expected
      ? `the starter's config requires an approval for ${starterSays}, the worker's does not: the worker reads rekey.yaml only at start (restart it after editing), or another worker with another config polls this task queue; nothing was changed`
      : `the worker's config requires an approval for ${workerSays}, the starter's does not: restart the worker after editing rekey.yaml, or use the same config for both; nothing was changed`,
  );
}
