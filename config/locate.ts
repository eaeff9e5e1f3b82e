// Where in rekey.yaml a problem is written: line and column for a path of keys and indexes.
import { type Document, isMap, isScalar, type LineCounter } from 'yaml';

export interface Position {
  line: number;
  col: number;
}

/**
 * The value at `path`; for an unknown `key` the key itself; for a missing field the line that
 * names the mapping it is missing from.
 */
export function locate(doc: Document, lines: LineCounter, path: readonly PropertyKey[], key?: string) {
  const at = (offset: number | undefined) => (offset === undefined ? undefined : lines.linePos(offset));
  const steps = path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  if (key !== undefined) {
    const found = keyOffset(doc, [...steps, key]);
    if (found !== undefined) return at(found);
  }
  for (let n = steps.length; n > 0; n--) {
    const node = doc.getIn(steps.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (!node?.range) continue;
    return at(n === steps.length ? node.range[0] : (keyOffset(doc, steps.slice(0, n)) ?? node.range[0]));
  }
  return { line: 1, col: 1 };
}

/** Where the key that ends `path` is written in its mapping. */
function keyOffset(doc: Document, path: readonly (string | number)[]): number | undefined {
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(path.at(-1)));
  return isScalar(pair?.key) ? pair.key.range?.[0] : undefined;
}
