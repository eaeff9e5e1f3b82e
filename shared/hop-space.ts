// Whether a hop's destination has room for what the hop writes: checked against the plan, so that
// a hop with nothing to copy (it saves the token file alone) is not refused for a copy and a
// snapshot it will not make.

/** How the destination's data dir is saved before a copy: a btrfs snapshot where the data dir is
 * a subvolume of its own (it does not walk the files), a reflink copy where its filesystem has
 * them (one inode per file, sharing every block until one changes), else a full copy. */
export interface SnapshotPlan {
  method: 'subvolume' | 'reflink' | 'copy';
  bytes: number;
}

/** The preflight's figures. */
export interface HopPreflight {
  sourceBytes: number;
  /** Free bytes on the destination's filesystem. */
  freeBytes: number;
  snapshot?: SnapshotPlan;
  /** The destination's host (runs recorded before space-after-plan: absent). */
  host?: string;
}

/** Why `to` has no room for a hop that `copies` (the source's data + 10%, plus a full-copy
 * snapshot of the destination's), or undefined when it has. A hop that copies nothing writes the
 * token file alone. */
export function spaceProblem(
  hop: { from: string; to: string },
  pre: HopPreflight,
  copies: boolean,
  /** What the refusal says of the destination's state. */
  state = 'nothing was changed',
): string | undefined {
  if (!copies) return undefined;
  const full = pre.snapshot?.method === 'copy';
  const needed = Math.ceil(pre.sourceBytes * 1.1) + (full ? (pre.snapshot?.bytes ?? 0) : 0);
  if (pre.freeBytes >= needed) return undefined;
  return `${hop.to}: ${pre.freeBytes} bytes free${pre.host ? ` on host ${pre.host}` : ''}, the hop needs ${needed}: ${hop.from} holds ${pre.sourceBytes} (+10% margin)${full ? ` and the snapshot is a full copy of ${hop.to}'s ${pre.snapshot?.bytes} bytes (its filesystem has no reflinks)` : ''}; ${state}`;
}
