// What a hop shows and returns: its result, and the lines its plan, snapshot and copy make for
// the progress, the gate and the Web UI.
import type { CopyStats } from '../activities/promote-hop';
import type { SyncPlan } from '../activities/rsync-output';
import type { TokenIdentity } from '../activities/tokens';
import type { HopPreflight, SnapshotPlan } from '../shared/hop-space';

export interface HopResult {
  from: string;
  to: string;
  dryRun: boolean;
  plan: SyncPlan;
  /** The copy (with --consistent: the live pass). */
  copied?: CopyStats;
  /** No copy: the destination held the source's data (the plan made with it stopped said so),
   * but for the token file when `tokenFile`. */
  notCopied?: { tokenFile: boolean };
  /** --consistent: the pass made while the source was stopped, and how long it was down. */
  finalPass?: CopyStats;
  sourceDowntimeMs?: number;
  identity?: TokenIdentity;
  marker?: string;
}

/** A plan's line for the progress and the gate: what the copy adds, changes and deletes. */
export function planText(p: SyncPlan): string {
  const del =
    p.delete > 0
      ? `, DELETE ${p.delete}${p.deletions.length ? ` (${p.deletions.join(', ')}${p.delete > p.deletions.length ? ', ...' : ''})` : ''}`
      : ', delete 0';
  const shrink = p.shrink ? `; SHRINK: ${p.shrink}` : '';
  return `add ${p.add}, change ${p.change}${del}; ${p.bytes} bytes to move${shrink}`;
}

/** A plan with nothing to add, change or delete (attributes count as changes). */
export const isEmpty = (p: SyncPlan) => p.add + p.change + p.delete === 0;

/** Whether a hop copies after `plan`: not when it changes nothing, or nothing but the token file
 * (with --consistent the source may change until its final pass: always). */
export const copiesAfter = (p: SyncPlan, consistent: boolean) =>
  !(p.tokenOnly === true || isEmpty(p)) || consistent;

/** What a hop saves before it changes `to`, as its plan's approval shows it. The plan is made
 * while `to` runs: a re-check with it stopped may still find something to copy. */
export function savedText(copies: boolean, to: string, pre?: HopPreflight): string {
  const snapshot = pre?.snapshot ? snapshotText(pre.snapshot) : '';
  if (copies) return snapshot ? `; ${snapshot}` : '';
  return `; nothing to copy: ${to}'s token file alone is saved${snapshot ? ` (should ${to} stopped hold changes after all: ${snapshot})` : ''}`;
}

/** The snapshot's method and cost, for the preflight line and the approval's plan. */
export const snapshotText = (s: SnapshotPlan) =>
  s.method === 'subvolume'
    ? `snapshot of the btrfs subvolume (${s.bytes} bytes shared, not copied)`
    : s.method === 'reflink'
      ? `snapshot by reflink (${s.bytes} bytes shared, not copied)`
      : `snapshot by full copy (${s.bytes} bytes to copy: no reflinks on the destination's filesystem)`;

/** The copy's line in the progress. */
export const copyText = (c: CopyStats) =>
  `${c.bytes} bytes (${c.matchedBytes} matched at the destination)${c.attempt > 1 ? `, attempt ${c.attempt}` : ''}` +
  (c.vanished ? '; some source files vanished while they were read (live source)' : '');
