// Which programs `/bin/sh -c 'command -v P'` would not find on this machine, told without starting
// a shell: a plan checks every environment's service commands, and on local hosts (a fleet of
// them, a workstation) a fork of the worker for each check was a large share of a plan's cost.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';

/** The names a shell answers `command -v` for without a file: the special and regular built-ins
 * and reserved words of dash, bash and busybox's ash. */
const BUILTINS = new Set(
  (
    '! { } case do done elif else esac fi for if in then until while ' +
    '. : [ alias bg break cd command continue echo eval exec exit export false fc fg getopts hash ' +
    'jobs kill local printf pwd read readonly return set shift test times trap true type ulimit ' +
    'umask unalias unset wait chdir source [[ ]] let declare typeset builtin function select time'
  ).split(' '),
);

async function executableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Of `programs`, those `command -v` would not find from `cwd` with this process's PATH (an empty
 * entry is the current directory, a relative one is taken from it, as the shell does); a name
 * with a slash is looked at as written from `cwd`, and must be a file that could run. */
export async function missingLocally(programs: string[], cwd: string): Promise<string[]> {
  // The shell's own default where PATH is unset (dash's).
  const path = (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(
    ':',
  );
  const inDir = (dir: string, p: string) => (isAbsolute(dir) ? `${dir}/${p}` : `${cwd}/${dir || '.'}/${p}`);
  const found = await Promise.all(
    programs.map(async (p) => {
      if (BUILTINS.has(p)) return true;
      if (p.includes('/')) return executableFile(isAbsolute(p) ? p : `${cwd}/${p}`);
      for (const dir of path) if (await executableFile(inDir(dir, p))) return true;
      return false;
    }),
  );
  return programs.filter((_, i) => !found[i]);
}
