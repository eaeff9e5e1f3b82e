// Parsers of rsync's output: the dry run's itemized changes, --stats, and the progress a copy
// streams. Text in, numbers out, so they are tested without hosts.
import { createHash } from 'node:crypto';

/** What a copy would do (from rsync's dry run), and what the hop checks add to it. */
export interface SyncPlan {
  add: number;
  change: number;
  /** Entries (files and directories) the copy deletes at the destination. */
  delete: number;
  /** The first deletions, for the approval gate. */
  deletions: string[];
  bytes: number;
  /** Regular files in the source (rsync's file list). */
  sourceFiles?: number;
  /** Files (anything but directories) at the destination before the copy, and how many of them
   * the copy deletes. */
  destinationFiles?: number;
  deleteFiles?: number;
  /** Set when the copy would empty or mostly empty the destination: the run needs allowShrink. */
  shrink?: string;
  /** SHA-256 of every path the copy deletes, sorted: the approved deletions, to compare a later
   * plan with. */
  deletionsDigest?: string;
  /** Set when the copy would change nothing but the publisher token file's content and times
   * (and directories' times): the token the hop writes from the source's and re-signs anyway. */
  tokenOnly?: true;
}

/** What one rsync run did, from its --stats. */
export interface SyncStats {
  /** Size of the files it transferred (new or changed). */
  bytes: number;
  /** Sent over the wire as data, and reconstructed from what the destination already had (a
   * partial file left by an interrupted attempt counts here). */
  literalBytes: number;
  matchedBytes: number;
}

/**
 * The --stats block: from the last line that starts it. File names come before it, and a name
 * can read "Total transferred file size: 1" (with --info=name1 at the start of its line), so
 * labels are read only there and only at line starts. rsync escapes a newline in a name (\\#012):
 * a name cannot start a line of its own in itemized output.
 */
function statsBlock(out: string): string {
  const at = out.lastIndexOf('\nNumber of files: ');
  return at < 0 ? (out.startsWith('Number of files: ') ? out : '') : out.slice(at + 1);
}

const statNumber = (block: string, label: string) => {
  const m = new RegExp(`^${label}: ([\\d,]+)`, 'm').exec(block);
  return m ? Number((m[1] as string).replace(/,/g, '')) : 0;
};

export function parseStats(out: string): SyncStats {
  const block = statsBlock(out);
  return {
    bytes: statNumber(block, 'Total transferred file size'),
    literalBytes: statNumber(block, 'Literal data'),
    matchedBytes: statNumber(block, 'Matched data'),
  };
}

/** An itemized line (YXcstpoguax; `<` sent to a remote destination, `>` received from a remote
 * source) for the token file changing only in content, size and time. */
const tokenLine = (line: string, token: string) =>
  /^[<>]f[.c][.s][.tT]\.{6} /.test(line) && line.slice(12) === token;
/** A directory whose time alone changes. */
const dirTimeLine = /^\.d\.\.[tT]\.{6} /;

/** Parses `rsync --itemize-changes --stats` output. `token`: the publisher token file's path in
 * the data dir, when the copy brings it (travellingToken); null otherwise. */
export function parseItemized(out: string, token: string | null = null): SyncPlan {
  const plan: SyncPlan = { add: 0, change: 0, delete: 0, deletions: [], bytes: 0, deleteFiles: 0 };
  const deleted: string[] = [];
  let tokenSeen = false;
  let otherThanToken = false;
  for (const line of out.split('\n')) {
    if (token !== null && /^[*<>ch.][fdLDSe]/.test(line)) {
      if (tokenLine(line, token)) tokenSeen = true;
      else if (!dirTimeLine.test(line)) otherThanToken = true;
    }
    if (line.startsWith('*deleting ')) {
      plan.delete++;
      const name = line.slice(10).trim();
      deleted.push(name);
      if (!name.endsWith('/')) plan.deleteFiles = (plan.deleteFiles ?? 0) + 1;
      if (plan.deletions.length < 20) plan.deletions.push(name);
    } else if (/^[<>ch.][fdLDS]\+{9}/.test(line)) plan.add++;
    // A hard link made anew ("hf          b => a": spaces, not dots) is a change too: a plan
    // with none of these lines is one the hop may skip copying.
    else if (/^[<>ch.][fdLDS][ .a-zA-Z+]{9} /.test(line) && !/^\.[fdL][ .]{9} /.test(line)) plan.change++;
  }
  plan.bytes = parseStats(out).bytes;
  if (tokenSeen && !otherThanToken) plan.tokenOnly = true;
  plan.deletionsDigest = createHash('sha256').update(deleted.sort().join('\n')).digest('hex');
  // "Number of files: 7 (reg: 5, dir: 2)": the source's file list; no "reg:" means none.
  // rsync before 3.1 prints no breakdown: the count is then unknown, not zero.
  const files = /^Number of files: [\d,]+ \(([^)]*)\)/m.exec(statsBlock(out));
  if (files) plan.sourceFiles = Number((/reg: ([\d,]+)/.exec(files[1] ?? '')?.[1] ?? '0').replace(/,/g, ''));
  return plan;
}

const PROGRESS_LINE = /^\s*([\d,]+)\s+(\d+)%\s+(\S+)\s+\d+:\d\d:\d\d/;

/**
 * Follows the stdout of `rsync --info=progress2,name1 --stats` as it arrives: progress lines
 * (ended by \r) carry the bytes so far, name lines the file being sent. Returns the chunk sink.
 */
export function followRsync(
  onProgress: (p: { bytes: number; percent: number; rate: string; file?: string }) => void,
): (chunk: string) => void {
  let partial = '';
  let file: string | undefined;
  let inStats = false;
  return (chunk) => {
    const pieces = (partial + chunk).split(/[\r\n]/);
    partial = pieces.pop() ?? '';
    for (const line of pieces) {
      if (inStats || line === '') continue;
      const m = PROGRESS_LINE.exec(line);
      if (m) {
        onProgress({
          bytes: Number((m[1] as string).replace(/,/g, '')),
          percent: Number(m[2]),
          rate: m[3] as string,
          file,
        });
      } else if (line.startsWith('Number of files: ')) inStats = true;
      else file = line;
    }
  };
}
