// zod issues in words, for config files and workflow inputs alike: a missing field says
// "missing", an unknown key is named with the closest known one, an empty path is "top level".
// Pure (no I/O): workflow code uses it too.
import type { z } from 'zod';
import { closest } from './suggest';

export interface Problem {
  /** Absent: a problem of the file as a whole (its syntax). */
  path?: PropertyKey[];
  /** Where it is written, when known without a path (a syntax error). */
  at?: { line: number; col: number };
  /** An unknown key under `path`: where the problem is written. */
  key?: string;
  message: string;
}

export function pathText(path: readonly PropertyKey[]): string {
  return path.length === 0 ? 'top level' : path.map(String).join('.');
}

export const problemText = (p: Problem) => (p.path ? `${pathText(p.path)}: ${p.message}` : p.message);

/**
 * One problem per issue. `schema`, when given, supplies the known keys for a "did you mean"; a
 * missing field explained by a misspelt key beside it is reported once, as the misspelling.
 */
export function describeIssues(all: readonly z.core.$ZodIssue[], schema?: z.ZodType): Problem[] {
  const issues = all.flatMap(closestBranch);
  const missing = (i: z.core.$ZodIssue) => i.code === 'invalid_type' && /received undefined$/.test(i.message);
  const explained = new Set<string>();
  const problems: Problem[] = [];
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const siblingsMissing = issues
      .filter((i) => missing(i) && i.path.length === issue.path.length + 1 && samePrefix(i.path, issue.path))
      .map((i) => String(i.path.at(-1)));
    const known = [...new Set([...siblingsMissing, ...(schema ? keysAt(schema, issue.path) : [])])];
    for (const key of issue.keys) {
      if (known.includes(key)) {
        // Known to another kind of entry at this place (a union: an ssh host's `port` on a local one).
        problems.push({ path: issue.path, key, message: `"${key}" does not apply to this kind of entry` });
        continue;
      }
      const guess = closest(key, known);
      if (guess && siblingsMissing.includes(guess))
        explained.add([...issue.path, guess].map(String).join('.'));
      problems.push({
        path: issue.path,
        key,
        message: `unknown key "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}`,
      });
    }
  }
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') continue;
    if (missing(issue)) {
      if (!explained.has(issue.path.map(String).join('.')))
        problems.push({ path: issue.path, message: 'missing' });
    } else {
      problems.push({ path: issue.path, message: issue.message });
    }
  }
  return problems;
}

/** A value that fits no kind of a union ("Invalid input") is described by the kind it comes
 * closest to: the one with the fewest problems (a codec with `store` but no `secret` is a
 * keyring missing its secret, not a list of keys missing `active` and `keys`). */
function closestBranch(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== 'invalid_union' || !issue.errors?.length) return [issue];
  const best = issue.errors.reduce((a, b) => (b.length < a.length ? b : a));
  return best.flatMap((i) => closestBranch({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue));
}

/** `path: message` lines, for a workflow's bad input. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return describeIssues(issues).map(problemText);
}

function samePrefix(path: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean {
  return prefix.every((k, i) => path[i] === k);
}

/** The keys an object schema accepts at `path` (through records, arrays, unions, defaults). */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let nodes: z.core.$ZodType[] = [schema];
  for (const step of [...path, undefined]) {
    nodes = nodes.flatMap(unwrap);
    if (step === undefined) break;
    nodes = nodes.flatMap((n): z.core.$ZodType[] => {
      const def = n._zod.def as unknown as Record<string, unknown>;
      if (def.type === 'object') {
        const child = (def.shape as Record<string, z.core.$ZodType>)[String(step)];
        return child ? [child] : [];
      }
      if (def.type === 'record') return [def.valueType as z.core.$ZodType];
      if (def.type === 'array') return [def.element as z.core.$ZodType];
      return [];
    });
  }
  return nodes.flatMap((n) => {
    const def = n._zod.def as unknown as Record<string, unknown>;
    return def.type === 'object' ? Object.keys(def.shape as object) : [];
  });
}

/** Past defaults, optionals and pipes, into each option of a union. */
function unwrap(node: z.core.$ZodType): z.core.$ZodType[] {
  const def = node._zod.def as unknown as Record<string, unknown>;
  if (def.innerType) return unwrap(def.innerType as z.core.$ZodType);
  if (def.type === 'pipe') return unwrap(def.in as z.core.$ZodType);
  if (def.type === 'union') return (def.options as z.core.$ZodType[]).flatMap(unwrap);
  return [node];
}
