// How a hop saves the destination's data dir before a copy, on the destination host's shell: a
// btrfs snapshot where the data dir is a subvolume of its own (it does not walk the files), else
// `cp -a --reflink=auto` (a reflink per file where the filesystem has them, else a full copy).
import { shellQuote } from '../hosts/shell';
import type { Host } from '../hosts/types';
import type { SnapshotPlan } from '../shared/hop-space';

/** Shell functions the commands below use. `subvolume DIR`: DIR is the root of a btrfs subvolume
 * (inode 256). `whole DIR`: a subvolume this login may snapshot (root or its owner: the kernel's
 * rule) with `btrfs` installed, holding no other subvolume (a snapshot leaves those out: they
 * would come back empty; a directory `find` cannot read might hold one, so it counts as one).
 * `drop PATH...`: removes each path; a subvolume by `btrfs subvolume delete`, which does not walk
 * its files, else (or where that is refused: a login that is not root) by `rm -rf`. */
export const SNAPSHOT_FNS = [
  'subvolume() { [ "$(stat -f -c %T -- "$1" 2>/dev/null)" = btrfs ] && [ "$(stat -c %i -- "$1")" = 256 ]; }',
  'whole() { subvolume "$1" && command -v btrfs >/dev/null && { [ "$(id -u)" = 0 ] || [ -O "$1" ]; } && o=$(find "$1" -xdev -mindepth 1 -type d -inum 256 -print -quit 2>/dev/null) && [ -z "$o" ]; }',
  'drop() { for p; do if subvolume "$p" && btrfs subvolume delete "$p" >/dev/null 2>&1; then :; else rm -rf -- "$p" || return; fi; done; }',
].join('; ');

/** What the snapshot command prints when it took a btrfs snapshot. */
export const SUBVOLUME_TAKEN = 'rekey-snapshot=subvolume';

/** The command that saves `data` as `snap` (through `snap`.tmp, which a lost attempt may have
 * left), marked with `mark` inside it, the mark and the copy keeping the data dir's mtime: a
 * btrfs snapshot where `whole`, else (or should the snapshot be refused: a quota, no space) a
 * copy. Prints SUBVOLUME_TAKEN when it took a btrfs snapshot. Once per run: an existing `snap` is
 * kept. */
export function snapshotCommand(data: string, snap: string, mark: string): string {
  const [d, s, t, m] = [data, snap, `${snap}.tmp`, `${snap}.tmp/${mark}`].map(shellQuote);
  const copy = `{ cp -a --reflink=auto ${d}/. ${t} || { rc=$?; drop ${t}; exit $rc; }; }`;
  const subvolume = `{ btrfs subvolume snapshot ${d} ${t} >/dev/null 2>&1 && echo ${SUBVOLUME_TAKEN}; }`;
  return `${SNAPSHOT_FNS}; [ -e ${s} ] || { drop ${t} && if whole ${d} && ${subvolume}; then :; else drop ${t} && ${copy}; fi && touch -r ${d} ${m} && touch -m -r ${d} ${t} && mv ${t} ${s}; }`;
}

/** How the snapshot of the host's data dir will be made. A reflink is tried on one of its files
 * (copied beside the data dir, where the snapshot goes, then removed; never writing inside it).
 * An empty data dir has nothing to share: a copy of it costs nothing. */
export async function snapshotMethod(h: Host, hostName: string): Promise<SnapshotPlan['method']> {
  const probe = shellQuote(`${h.dataDir.replace(/\/+$/, '')}.rekey-reflink-probe`);
  const res = await h.exec(
    `${SNAPSHOT_FNS}; if whole ${shellQuote(h.dataDir)}; then exit 4; fi; f=$(find ${shellQuote(h.dataDir)} -type f -size +0 -print -quit 2>/dev/null); [ -n "$f" ] || exit 3; rm -f ${probe}; cp --reflink=always -- "$f" ${probe} 2>/dev/null; rc=$?; rm -f ${probe}; exit $rc`,
  );
  if (res.code === 4) return 'subvolume';
  if (res.code === 0) return 'reflink';
  if (res.code === 3 || res.code === 1) return 'copy';
  throw new Error(`host ${hostName}: snapshot probe: exit ${res.code}: ${res.stderr.trim()}`);
}
