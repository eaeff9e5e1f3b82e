// A hop's data on its hosts: the environments' hosts and services, where the snapshot, its mark and
// the token backup live next to a data dir, the rsync that moves the data from the source host
// straight to the destination, and where the publisher token travels.
import { posix } from 'node:path';
import { asyncLocalStorage } from '@temporalio/activity';
import type { Config, SshHostConfig } from '../config/schema';
import { withHost } from '../hosts/connect';
import { shellQuote } from '../hosts/shell';
import { type ExecOptions, type Host, resolveOnHost } from '../hosts/types';
import { heartbeating } from '../services/heartbeat';
import { FailureType, fail } from '../shared/failures';
import { type HostPaths, hopProblem, within } from './hop-checks';
import { isExternalIssuer, readTokenFromToml, refuseExpired, signedByAny, tokenIdentity } from './tokens';

type SyncConfig = NonNullable<SshHostConfig['sync']>;

export function hopData(deps: { config: Config }) {
  const { config } = deps;

  function env(name: string) {
    const e = config.environments[name];
    const host = e && config.hosts[e.host];
    if (!e || !host) throw fail(FailureType.BadInput, `unknown environment "${name}"`);
    return { name, hostName: e.host, host };
  }

  /** What a hop keeps beside the destination's data dir (never in it: a later hop would copy it
   * on), per run: `<data>.rekey-<what>-<runId>`. */
  const beside = (h: Host, what: string, runId: string) =>
    `${h.dataDir.replace(/\/+$/, '')}.rekey-${what}-${runId}`;
  const snapshotPath = (h: Host, runId: string) => beside(h, 'snapshot', runId);
  const snapshotMark = (runId: string) => `.rekey-snapshot-${runId}`;
  /** Where a hop saves the destination's token file before carrying another into it. */
  const tokenBackupPath = (h: Host, runId: string) => beside(h, 'token', runId);
  /** Left once the saved token file is back: a retry of the put-back knows it is done. */
  const tokenRestoredPath = (h: Host, runId: string) => beside(h, 'token-restored', runId);

  /** The rsync command line and the host it runs on: the source pushes to an SSH destination
   * over its own `sync` key; a local destination (a workstation) pulls from the source over the
   * worker's SSH key for it, with the same pinned known_hosts. */
  function rsync(
    from: string,
    to: string,
    extra: string[],
  ): { runner: ReturnType<typeof env>; command: string } {
    const problem = hopProblem(config, from, to);
    if (problem) throw fail(FailureType.BadInput, problem);
    const source = env(from);
    const dest = env(to);
    const s = source.host as SshHostConfig;
    const pull = dest.host.type === 'local';
    // Who connects to whom: the destination over the source's sync key, or the source over ours.
    const remote = pull ? s : (dest.host as SshHostConfig);
    const key = pull ? { identityFile: s.identityFile, knownHosts: s.knownHosts } : (s.sync as SyncConfig);
    const ssh = [
      'ssh',
      `-i ${shellQuote(key.identityFile)}`,
      `-o UserKnownHostsFile=${shellQuote(key.knownHosts)}`,
      '-o StrictHostKeyChecking=yes',
      '-o BatchMode=yes',
      `-p ${remote.port}`,
    ].join(' ');
    const bandwidth = s.sync?.bandwidthLimit;
    const args = [
      '-aHAX',
      '--delete',
      '--numeric-ids',
      '--timeout=60',
      ...(bandwidth ? [`--bwlimit=${bandwidth}`] : []),
      ...extra,
    ];
    const dir = (d: string) => `${d.replace(/\/+$/, '')}/`;
    const src = pull ? `${s.user}@${s.address}:${dir(s.dataDir)}` : dir(s.dataDir);
    const dst = pull ? dir(dest.host.dataDir) : `${remote.user}@${remote.address}:${dir(dest.host.dataDir)}`;
    const command = `rsync ${args.join(' ')} -e ${shellQuote(ssh)} ${shellQuote(src)} ${shellQuote(dst)}`;
    return { runner: pull ? dest : source, command };
  }

  /**
   * Runs a command on a host as part of the current activity: heartbeats every 5 s while it runs
   * (with `details()` when given), gives up when the activity is cancelled or times out, and may
   * take as long as the activity may. Exit codes in `ok` besides 0 count as success.
   */
  async function run(
    h: Host,
    command: string,
    what: string,
    opts: Omit<ExecOptions, 'signal'> & { details?: () => unknown; ok?: number[] } = {},
  ) {
    const ctx = asyncLocalStorage.getStore();
    const res = await heartbeating(
      () =>
        h.exec(command, {
          ...opts,
          timeoutMs: opts.timeoutMs ?? ctx?.info.startToCloseTimeoutMs ?? 600_000,
          signal: ctx?.cancellationSignal,
        }),
      opts.details,
    );
    if (res.code === 25)
      throw fail(
        FailureType.PolicyViolation,
        `${what}: more deletions than the approved plan (rsync exit 25)`,
      );
    if (res.code !== 0 && !opts.ok?.includes(res.code)) {
      const output = (res.stderr.trim() || res.stdout.trim()).split(/[\r\n]+/);
      throw new Error(`${what}: exit ${res.code}: ${output.slice(-3).join(' | ')}`);
    }
    return res;
  }

  /** The data dir, app dir and login home on a host, with every symlink resolved. */
  async function hostPaths(h: Host, hostName: string): Promise<HostPaths> {
    const out = (
      await run(
        h,
        [
          `d=${shellQuote(h.dataDir)}`,
          'if [ -L "$d" ]; then printf "symlink=%s\\n" "$(readlink -- "$d")"; fi',
          'printf "data=%s\\n" "$(readlink -m -- "$d")"',
          `printf "app=%s\\n" "$(readlink -m -- ${shellQuote(h.appDir)})"`,
          'printf "home=%s\\n" "$(readlink -m -- "$HOME")"',
          'printf "machine=%s\\n" "$(cat /etc/machine-id 2>/dev/null)"',
          // util-linux's mountpoint reads the mount table: 0 a mount point, 32 not one (a btrfs
          // subvolume has a device number of its own, but moves like a directory). Without it,
          // or on an error, another device than the parent's counts as a mount point.
          'if [ -d "$d" ]; then r=127; if command -v mountpoint >/dev/null; then mountpoint -q -- "$d" 2>/dev/null; r=$?; fi; if [ "$r" = 0 ]; then echo mount=yes; elif [ "$r" != 32 ] && [ "$(stat -c %d -- "$d")" != "$(stat -c %d -- "$d/..")" ]; then echo mount=yes; fi; fi',
        ].join('\n'),
        `host ${hostName}: real paths`,
      )
    ).stdout;
    const field = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(out)?.[1]?.trim();
    return {
      symlink: field('symlink') ?? null,
      data: field('data') ?? '',
      app: field('app') ?? '',
      home: field('home') ?? '',
      machine: field('machine') ?? '',
      mountPoint: field('mount') === 'yes',
    };
  }

  /** Where the publisher token file lies inside the host's data dir (a relative path), or null
   * when it lies outside it. */
  function tokenInData(h: Host): string | null {
    const data = posix.normalize(h.dataDir).replace(/\/+$/, '');
    const toml = posix.normalize(resolveOnHost(h, config.paths.cliToml));
    return within(toml, data) ? posix.relative(data, toml) : null;
  }

  /** Where the copy itself brings the publisher token: the path both hosts keep cli.toml at
   * inside their data dirs (relative to them), or null when it lies elsewhere on either. */
  async function travellingToken(
    s: ReturnType<typeof env>,
    d: ReturnType<typeof env>,
  ): Promise<string | null> {
    const rel = (e: ReturnType<typeof env>) => withHost(e.hostName, e.host, async (h) => tokenInData(h));
    const [a, b] = [await rel(s), await rel(d)];
    return a !== null && a === b ? a : null;
  }

  /** The source's publisher token and the key that should have signed it, checked: present, not
   * expired, signed by the source's key or issued by an OIDC provider (carried as it is). */
  async function sourceToken(s: ReturnType<typeof env>, copied: boolean) {
    return withHost(s.hostName, s.host, async (h) => {
      const tomlPath = resolveOnHost(h, config.paths.cliToml);
      const where = `${s.name}: ${tomlPath}`;
      const text = await h.readFile(tomlPath);
      if (!text)
        throw fail(
          FailureType.BadInput,
          `${where}: missing: ${copied ? 'the copy would bring' : 'there is'} no publisher token for the destination`,
        );
      const token = readTokenFromToml(text.toString(), config.paths.tokenField, where);
      const id = tokenIdentity(token, where);
      const pub = await h.readFile(
        resolveOnHost(h, posix.join(config.paths.keyDir, config.paths.publicKeyFile)),
      );
      const key = pub?.toString() ?? null;
      const signed = key !== null && (await signedByAny(token, [key]));
      const external = !signed && isExternalIssuer(id.iss);
      if (!signed && !external)
        throw fail(
          FailureType.BadInput,
          `${where}: the token is not signed by ${s.name}'s key${key ? '' : ' (it has no public key file)'}, nor issued by an OIDC provider; refusing to re-sign it for the destination`,
        );
      if (!external) refuseExpired(token, where);
      return { token, key, external, text: text.toString() };
    });
  }

  return {
    env,
    beside,
    snapshotPath,
    snapshotMark,
    tokenBackupPath,
    tokenRestoredPath,
    rsync,
    run,
    hostPaths,
    tokenInData,
    travellingToken,
    sourceToken,
  };
}
