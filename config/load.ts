// Reads rekey.yaml, validates it, and resolves the paths it names relative to the file.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { type Document, LineCounter, parseDocument } from 'yaml';
import { kindOf } from '../stores/kinds';
import { crossCheck } from './cross-checks';
import { describeIssues, type Problem, pathText, problemText } from './issues';
import { locate, type Position } from './locate';
import { Config, unsafeDirReason } from './schema';

/** Every problem of a config file, each as `path: message`, and in the message with its place in
 * the file (`file:line:col: path: message`) when the file's text is known. */
/** A problem of a config, placed in its file where it can be (for --json). */
export interface LocatedProblem {
  /** The config path (keys and indexes joined with "."), absent for a problem of the whole file. */
  path?: string;
  line?: number;
  column?: number;
  message: string;
}

export class ConfigError extends Error {
  readonly problems: string[];
  readonly located: LocatedProblem[];

  constructor(
    readonly file: string,
    problems: (string | Problem)[],
    where?: (p: Problem) => Position | undefined,
  ) {
    const texts = problems.map((p) => (typeof p === 'string' ? p : problemText(p)));
    const lines = problems.map((p, i) => {
      const at = typeof p === 'string' ? undefined : (p.at ?? where?.(p));
      return at ? `${file}:${at.line}:${at.col}: ${texts[i]}` : `${file}: ${texts[i]}`;
    });
    super(
      lines.length === 1
        ? (lines[0] as string)
        : `${file}: ${lines.length} problems\n${lines.map((l) => `  ${l}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.problems = texts;
    this.located = problems.map((p) => {
      if (typeof p === 'string') return { message: p };
      const at = p.at ?? where?.(p);
      return {
        ...(p.path ? { path: pathText(p.path) } : {}),
        ...(at ? { line: at.line, column: at.col } : {}),
        message: p.message,
      };
    });
  }
}

/** Expands `~/` and makes a path absolute relative to `base`, normalised (no `..`, no trailing slash). */
export function resolvePath(base: string, p: string): string {
  if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return resolve(base, p);
}

/** The schema with the checks across sections (config/cross-checks.ts) as its refinement: zod runs
 * them whenever the shape parses, also next to a field's own failed refinement, so one run reports
 * both. */
const Checked = Config.superRefine((cfg, ctx) =>
  crossCheck(cfg, (path, message) => ctx.addIssue({ code: 'custom', path, message })),
);

/** Validates an already parsed document; throws ConfigError listing every problem (placed in
 * the file by `where` when the caller has its text). */
export function parseConfig(
  doc: unknown,
  file = 'rekey.yaml',
  where?: (p: Problem) => Position | undefined,
): Config {
  if (doc === null || doc === undefined) throw new ConfigError(file, ['the file is empty']);
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    const found = Array.isArray(doc) ? 'a list' : `a ${typeof doc} (${JSON.stringify(doc)})`;
    throw new ConfigError(file, [`expected a mapping of settings at the top level, found ${found}`]);
  }
  const result = Checked.safeParse(doc);
  if (!result.success) throw new ConfigError(file, describeIssues(result.error.issues, Config), where);
  const cfg = result.data;
  const base = dirname(resolve(file));
  for (const store of Object.values(cfg.stores))
    kindOf(store).resolvePaths?.(store, (p) => resolvePath(base, p));
  for (const source of Object.values(cfg.codec && 'keys' in cfg.codec ? cfg.codec.keys : {})) {
    if ('file' in source) source.file = resolvePath(base, source.file);
  }
  for (const sink of Object.values(cfg.notify?.sinks ?? {})) {
    for (const source of [
      sink.type === 'slack' ? sink.url : sink.type === 'webhook' ? sink.secret : sink.password,
    ])
      if (source && 'file' in source) source.file = resolvePath(base, source.file);
    if (sink.type === 'smtp' && sink.caFile) sink.caFile = resolvePath(base, sink.caFile);
  }
  const problems: Problem[] = [];
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
          problems.push({
            path: ['hosts', hostName, field],
            message: `${shown} ${reason}: use a directory of its own below it`,
          });
        }
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(file, problems, where);
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
  const lines = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const [syntax] = doc.errors;
  if (syntax) {
    const { line, col } = lines.linePos(syntax.pos[0]);
    const shown = text.split(/\r?\n/)[line - 1] ?? '';
    const message = syntax.message.split('\n')[0];
    throw new ConfigError(file, [
      { at: { line, col }, message: `not valid YAML: ${message}\n    ${shown}\n    ${' '.repeat(col - 1)}^` },
    ]);
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    // An alias bomb ("Excessive alias count ..."), or an alias to an anchor that is not there.
    throw new ConfigError(file, [`not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  // An empty file, or only comments, parses as null; a document that says `null` or `~` is not empty.
  if (value === null && !isBlank(text)) {
    throw new ConfigError(file, ['expected a mapping of settings at the top level, found null']);
  }
  return parseConfig(value, file, (p) => locate(doc, lines, p.path ?? [], p.key));
}

/** Nothing but whitespace, comments and document markers. */
function isBlank(text: string): boolean {
  return text
    .split(/\r?\n/)
    .every((line) => /^\s*(#.*)?$/.test(line) || /^(---|\.\.\.)\s*(#.*)?$/.test(line));
}
