// How a hop saves the destination's data dir before a copy, on the destination host's shell: a
// btrfs snapshot where the data dir is a subvolume of its own (it does not walk the files), else
// `cp -a --reflink=auto` (a reflink per file where the filesystem has them, else a full copy).
import { shellQuote } from '../hosts/shell';
import type { Host } from '../hosts/types';
import type { SnapshotPlan } from '../shared/hop-space';

/** Shell test: `dir` is the root of a btrfs subvolume (inode 256) holding no other subvolume (a
 * snapshot leaves those out: they would come back empty), `btrfs` is installed, and this login
 * may snapshot it (root or its owner: the kernel's rule). Directories alone are looked at. */
export const isWholeSubvolume = (dir: string) => {
  const d = shellQuote(dir);
  return `{ [ "$(stat -f -c %T -- ${d} 2>/dev/null)" = btrfs ] && [ "$(stat -c %i -- ${d})" = 256 ] && command -v btrfs >/dev/null && { [ "$(id -u)" = 0 ] || [ -O ${d} ]; } && [ -z "$(find ${d} -mindepth 1 -type d -inum 256 -print -quit 2>/dev/null)" ]; }`;
};

/** Shell function `drop PATH...`: removes each path; a btrfs subvolume (a snapshot, or a data dir
 * moved aside) by `btrfs subvolume delete`, which does not walk its files, else (or where that
 * is refused: a login that is not root) by `rm -rf`. */
export const DROP = `drop() { for p; do if [ "$(stat -f -c %T -- "$p" 2>/dev/null)" = btrfs ] && [ "$(stat -c %i -- "$p")" = 256 ] && btrfs subvolume delete "$p" >/dev/null 2>&1; then :; else rm -rf -- "$p" || return; fi; done; }`;

/** The command that saves `data` as `snap` (through `snap`.tmp, which a lost attempt may have
 * left), marked with `mark` inside it, the mark and the copy keeping the data dir's mtime. Prints
 * `subvolume` when it took a btrfs snapshot. Once per run: an existing `snap` is kept. */
export function snapshotCommand(data: string, snap: string, mark: string): string {
  const [d, s, t, m] = [data, snap, `${snap}.tmp`, `${snap}.tmp/${mark}`].map(shellQuote);
  const copy = `{ cp -a --reflink=auto ${d}/. ${t} || { rc=$?; drop ${t}; exit $rc; }; }`;
  const subvolume = `btrfs subvolume snapshot ${d} ${t} >/dev/null && echo subvolume`;
  return `${DROP}; [ -e ${s} ] || { drop ${t} && if ${isWholeSubvolume(data)}; then ${subvolume}; else ${copy}; fi && touch -r ${d} ${m} && touch -m -r ${d} ${t} && mv ${t} ${s}; }`;
}

/** How the snapshot of the host's data dir will be made. A reflink is tried on one of its files
 * (copied beside the data dir, where the snapshot goes, then removed; never writing inside it).
 * An empty data dir has nothing to share: a copy of it costs nothing. */
export async function snapshotMethod(h: Host, hostName: string): Promise<SnapshotPlan['method']> {
  const probe = shellQuote(`${h.dataDir.replace(/\/+$/, '')}.rekey-reflink-probe`);
  const res = await h.exec(
    `if ${isWholeSubvolume(h.dataDir)}; then exit 4; fi; f=$(find ${shellQuote(h.dataDir)} -type f -size +0 -print -quit 2>/dev/null); [ -n "$f" ] || exit 3; rm -f ${probe}; cp --reflink=always -- "$f" ${probe} 2>/dev/null; rc=$?; rm -f ${probe}; exit $rc`,
  );
  if (res.code === 4) return 'subvolume';
  if (res.code === 0) return 'reflink';
  if (res.code === 3 || res.code === 1) return 'copy';
  throw new Error(`host ${hostName}: snapshot probe: exit ${res.code}: ${res.stderr.trim()}`);
}
