// Reads rekey.yaml, validates it, and resolves the paths it names relative to the file.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import type { z } from 'zod';
import { Config } from './schema';

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

function formatIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return path ? `${path}: ${issue.message}` : issue.message;
  });
}

/** Expands `~/` and makes a path absolute relative to `base`. */
export function resolvePath(base: string, p: string): string {
  if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(base, p);
}

/** Validates an already parsed document; throws ConfigError listing every problem. */
export function parseConfig(doc: unknown, file = 'rekey.yaml'): Config {
  const result = Config.safeParse(doc);
  if (!result.success) throw new ConfigError(file, formatIssues(result.error.issues));
  const cfg = result.data;
  const base = dirname(resolve(file));
  for (const store of Object.values(cfg.stores)) {
    if (store.type === 'file') store.dir = resolvePath(base, store.dir);
  }
  for (const host of Object.values(cfg.hosts)) {
    if (host.type === 'ssh') {
      host.identityFile = resolvePath(base, host.identityFile);
      host.knownHosts = resolvePath(base, host.knownHosts);
    } else {
      host.appDir = resolvePath(base, host.appDir);
      host.dataDir = resolvePath(base, host.dataDir);
    }
  }
  return cfg;
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
  return parseConfig(doc, file);
}
