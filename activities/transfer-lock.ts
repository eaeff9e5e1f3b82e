// The shell wrapper that makes a copy the only transfer into its destination: rsync outlives a lost
// session, so a retry must stop (or wait for) the transfer it would race.
import { shellQuote } from '../hosts/shell';

/**
 * Runs `command` (an rsync) as the only transfer into `to` from this host. rsync carries on when
 * the session that started it is gone (it ignores a closed stdout), so a retry after a lost
 * worker would race the old transfer: the retry of the same hop stops it first (its partial file
 * stays for the retry to build on); a transfer of another run is waited for, then refused.
 */
export function exclusive(to: string, owner: string, command: string, waitSeconds = 120): string {
  const me = shellQuote(owner);
  return [
    // In the login user's own directory: a lock in world-writable /tmp could be taken (or be a
    // symlink planted) by any other user of the host.
    'lockdir="$HOME/.rekey/locks"',
    'mkdir -p -m 700 "$lockdir" || exit 1',
    `lock="$lockdir/rsync-${to}.lock"`,
    `ownerfile="$lockdir/rsync-${to}.owner"`,
    'exec 9>>"$lock"',
    'if ! flock -n 9; then',
    '  read -r pid holder < "$ownerfile"',
    // Only a process that still holds this lock is stopped, never one that reused its pid.
    `  if [ "$holder" = ${me} ] && [ "$(readlink /proc/$pid/fd/9)" = "$lock" ]; then kill -TERM "$pid"; fi`,
    `  flock -w ${waitSeconds} 9 || { echo "another transfer into ${to} is running ($holder)" >&2; exit 75; }`,
    'fi',
    `echo "$$ "${me} > "$ownerfile"`,
    `exec ${command}`,
  ].join('\n');
}
