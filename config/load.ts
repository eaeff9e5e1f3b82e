// Reads rekey.yaml, validates it, and resolves the paths it names relative to the file.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { formatIssues } from './issues';
import { Config, unsafeDirReason } from './schema';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      problems.length === 1
        ? `${file}: ${problems[0]}`
        : `${file}: ${problems.length} problems\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

/** Expands `~/` and makes a path absolute relative to `base`, normalised (no `..`, no trailing slash). */
export function resolvePath(base: string, p: string): string {
  if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return resolve(base, p);
}

/** Validates an already parsed document; throws ConfigError listing every problem. */
export function parseConfig(doc: unknown, file = 'rekey.yaml'): Config {
  if (doc === null || doc === undefined) throw new ConfigError(file, ['the file is empty']);
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    const found = Array.isArray(doc) ? 'a list' : `a ${typeof doc} (${JSON.stringify(doc)})`;
    throw new ConfigError(file, [`expected a mapping of settings at the top level, found ${found}`]);
  }
  const result = Config.safeParse(doc);
  if (!result.success) throw new ConfigError(file, formatIssues(result.error.issues));
  const cfg = result.data;
  const base = dirname(resolve(file));
  for (const store of Object.values(cfg.stores)) {
    if (store.type === 'file') store.dir = resolvePath(base, store.dir);
  }
  const problems: string[] = [];
  for (const [hostName, host] of Object.entries(cfg.hosts)) {
    if (host.type === 'ssh') {
      host.identityFile = resolvePath(base, host.identityFile);
      host.knownHosts = resolvePath(base, host.knownHosts);
    } else {
      // SSH hosts' dirs are checked by the schema; a local host's only once resolved here.
      for (const field of ['appDir', 'dataDir'] as const) {
        const written = host[field];
        host[field] = resolvePath(base, written);
        const reason = localDirReason(host[field], field);
        if (reason) {
          const shown = written === host[field] ? `"${written}"` : `"${written}" (${host[field]})`;
          problems.push(
            `hosts.${hostName}.${field}: ${shown} ${reason}: use a directory of its own below it`,
          );
        }
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
  return cfg;
}

/** Why a local host's resolved dir must not be its appDir or dataDir, or undefined. */
function localDirReason(dir: string, field: 'appDir' | 'dataDir'): string | undefined {
  const reason = unsafeDirReason(dir);
  if (reason) return reason;
  // A promotion replaces what is in a data dir: never the home directory of whoever runs rekey.
  if (field === 'dataDir' && dir === resolve(homedir())) return 'is your home directory';
  return undefined;
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  // An empty file, or only comments, parses as null; a document that says `null` or `~` is not empty.
  if (doc === null && !isBlank(text)) {
    throw new ConfigError(file, ['expected a mapping of settings at the top level, found null']);
  }
  return parseConfig(doc, file);
}

/** Nothing but whitespace, comments and document markers. */
function isBlank(text: string): boolean {
  return text
    .split(/\r?\n/)
    .every((line) => /^\s*(#.*)?$/.test(line) || /^(---|\.\.\.)\s*(#.*)?$/.test(line));
}
