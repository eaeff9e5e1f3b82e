// Whether a promotion hop is safe to run, checked before anything changes: the hop itself in config,
// the data dirs' real paths on the hosts (preflight), and a plan that would empty the destination.
import { posix } from 'node:path';
import { type Config, type HostConfig, type SshHostConfig, unsafeDirReason } from '../config/schema';
import type { SyncPlan } from './rsync-output';

/** The share of the destination's files a plan may delete before it needs allowShrink. */
export const DEFAULT_MAX_DELETE_SHARE = 0.5;

/** Why a plan empties or mostly empties the destination, or undefined when it does not. */
export function shrinkProblem(plan: SyncPlan, maxShare = DEFAULT_MAX_DELETE_SHARE): string | undefined {
  const dest = plan.destinationFiles ?? 0;
  const deleting = plan.deleteFiles ?? 0;
  if (plan.sourceFiles === 0 && dest > 0)
    return `the source holds no files: the copy would empty the destination (${dest} files)`;
  if (dest > 0 && deleting / dest > maxShare)
    return `the copy deletes ${deleting} of the destination's ${dest} files (${Math.round((100 * deleting) / dest)}%, more than ${Math.round(100 * maxShare)}%)`;
  return undefined;
}

/** Whether normalised absolute path `x` is `y` or inside it. */
export function within(x: string, y: string): boolean {
  return y === '/' || x === y || x.startsWith(`${y}/`);
}

/** Whether two normalised absolute paths are the same directory or one holds the other. */
export function pathsOverlap(a: string, b: string): boolean {
  return within(a, b) || within(b, a);
}

/** Why `from -> to` cannot be a promotion hop under `config`, or undefined when it can. */
export function hopProblem(config: Config, from: string, to: string): string | undefined {
  const known = Object.keys(config.environments).join(', ');
  for (const e of [from, to])
    if (!config.environments[e]) return `unknown environment "${e}"; configured: ${known}`;
  if (from === to) return `${from} -> ${to}: an environment cannot be copied onto itself`;
  const sourceName = config.environments[from]?.host as string;
  const destName = config.environments[to]?.host as string;
  const source = config.hosts[sourceName];
  const dest = config.hosts[destName];
  if (source?.type !== 'ssh')
    return `${from} -> ${to}: the source host ${sourceName} must be an SSH host (a local environment is not a promotion's source)`;
  // A local destination (a workstation) pulls over the worker's own SSH key for the source. Its
  // paths must not depend on the directory the worker was started in.
  if (dest?.type === 'local')
    return posix.isAbsolute(dest.dataDir)
      ? undefined
      : `${from} -> ${to}: hosts.${destName}.dataDir (${dest.dataDir}) must be an absolute path for a promotion into it`;
  if (!source.sync)
    return `${from} -> ${to}: the source host needs hosts.${sourceName}.sync (identityFile, knownHosts on it)`;
  if (dest?.type !== 'ssh') return `${from} -> ${to}: the destination host ${destName} must be an SSH host`;
  // Two host entries may name one machine: compare where they connect, not their names.
  const sameMachine = source.address === dest.address && source.port === dest.port;
  const [a, b] = [posix.normalize(source.dataDir), posix.normalize(dest.dataDir)].map((p) =>
    p.length > 1 ? p.replace(/\/+$/, '') : p,
  ) as [string, string];
  if (sameMachine && pathsOverlap(a, b))
    return `${from} -> ${to}: ${a} and ${b} are on the same machine (${dest.address}:${dest.port}) and one holds the other`;
  return undefined;
}

/** Real paths on a host, for the preflight's checks (a symlinked data dir is refused). */
export interface HostPaths {
  symlink: string | null;
  data: string;
  app: string;
  home: string;
  /** /etc/machine-id: two host entries (other names, addresses or ports) may be one machine. */
  machine: string;
  /** Whether the data dir is a mount point (in the mount table; a btrfs subvolume is not one): its
   * snapshot, beside it on the parent's filesystem, could not be moved back in place. */
  mountPoint?: boolean;
}

/** An environment of a hop, resolved in config: its host entry and that entry's name. */
export interface HopEnd {
  name: string;
  hostName: string;
  host: HostConfig;
}

/** Refuses data dirs that a copy, snapshot or restore would act on wrongly (checked by real path
 * on the hosts: config can name one directory several ways). */
export function dataDirProblems(source: HopEnd, dest: HopEnd, s: HostPaths, d: HostPaths): string[] {
  const problems: string[] = [];
  for (const [e, p] of [
    [source, s],
    [dest, d],
  ] as const) {
    if (p.symlink !== null)
      problems.push(
        `${e.name}: data dir ${e.host.dataDir} on host ${e.hostName} is a symlink (to ${p.symlink}): set dataDir to the real directory`,
      );
  }
  const where = `${dest.name}: data dir ${dest.host.dataDir} on host ${dest.hostName} (${d.data})`;
  if (d.mountPoint)
    problems.push(
      `${where} is a mount point: its snapshot beside it would be on another filesystem and could not be moved back; set dataDir to a directory inside the mounted volume`,
    );
  const unsafe = d.data ? unsafeDirReason(d.data) : 'is the root directory';
  if (unsafe) problems.push(`${where} ${unsafe}`);
  else {
    if (within(d.app, d.data)) problems.push(`${where} holds the app dir ${d.app}: the copy would delete it`);
    if (within(d.home, d.data))
      problems.push(`${where} holds the login home ${d.home}: the copy would delete it`);
  }
  const s2 = source.host as SshHostConfig;
  const d2 = dest.host as SshHostConfig;
  const sameMachine =
    (s2.address === d2.address && s2.port === d2.port) || (s.machine !== '' && s.machine === d.machine);
  if (sameMachine && pathsOverlap(s.data, d.data))
    problems.push(
      `${source.name} -> ${dest.name}: ${s.data} and ${d.data} are on the same machine (${d2.address}:${d2.port}) and one holds the other`,
    );
  return problems;
}
