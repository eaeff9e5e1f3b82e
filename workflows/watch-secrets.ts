// The daily secret watch (`rekey schedule create secret-watch --every day`): reads every secret
// recipe's state in each environment, as `rekey secret status` does, and announces (notify:) each
// secret that falls due within notify.dueWithin (once) and each one overdue (every day, until it
// is rotated). It changes nothing. Each run passes on what it announced as due to the next (the
// schedule's last completion result), so a secret due soon is told once.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { NotifyActivities } from '../activities/notify';
import { shortActivity } from './activity-options';
import { runFailure } from './errors';
import { emit, notifyOn } from './notify';
import { ProgressTracker } from './progress';

const acts = proxyActivities<NotifyActivities>({ ...shortActivity, summary: 'read each secret’s state' });

export interface WatchResult {
  /** When it looked (the workflow clock), and what it found: `secret/env` each. */
  at: string;
  due: string[];
  overdue: string[];
  unreadable: string[];
  /** How many events it emitted. */
  announced: number;
}

export async function watchSecrets(): Promise<WatchResult> {
  const tracker = new ProgressTracker(['read', 'announce'], 'watch the secrets falling due');
  const last = workflowInfo().lastResult as WatchResult | undefined;
  try {
    const at = Date.now();
    const found = await tracker.run(
      'read',
      () => acts.secretsDue({ at, announcedDue: last?.due ?? [] }),
      (f) =>
        `${f.overdue.length} overdue, ${f.due.length} due soon${f.unreadable.length ? `, ${f.unreadable.length} unreadable (${f.unreadable.join(', ')})` : ''}`,
    );
    const environments = [...new Set(found.notices.map((n) => n.secret.environment))];
    notifyOn({ types: ['secret.due', 'secret.overdue'], environments }, { runEvents: false });
    for (const n of found.notices) emit(n.type, { secret: n.secret, environments: [n.secret.environment] });
    tracker.set('announce', 'done', `${found.notices.length} event(s)`);
    tracker.finish('completed');
    return {
      at: new Date(at).toISOString(),
      due: found.due,
      overdue: found.overdue,
      unreadable: found.unreadable,
      announced: found.notices.length,
    };
  } catch (err) {
    tracker.fail(err);
    throw runFailure(err);
  }
}
