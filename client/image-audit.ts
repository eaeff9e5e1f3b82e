// `rekey audit image`: secrets baked into a container image's configuration. An image keeps the
// command that made each layer (`history[].created_by`: RUN, ARG and ENV lines with their values)
// and its environment (`config.Env`) in its config blob, readable by anyone who can pull it. This
// reads an OCI image layout (a directory) or a `docker save` tarball (optionally gzipped) and
// flags secret-like names with values, known token shapes and high-entropy strings. Findings say
// where (history entry, layer, Env) and never print the value itself.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface Finding {
  /** "history 3 (layer 2)" or "config Env". */
  where: string;
  /** The line with every flagged value replaced by its length. */
  line: string;
  why: string;
}

interface ImageConfig {
  config?: { Env?: string[] };
  history?: { created_by?: string; empty_layer?: boolean }[];
}

/** Names of variables that hold secrets. */
const SECRET_NAME = /(pass(word|wd)?|secret|token|api[_-]?key|credential|auth|(^|_)keys?(_|$))/i;
/** Names that match the pattern but hold no secret. */
const NOT_SECRET = /^(PATH|.*PUBLIC_KEY.*|.*_(FILE|PATH|ID|USER(NAME)?|NAME|HOST|PORT|DIR|VERSION))$/i;
/** Shapes of well-known credentials. */
const KNOWN = [
  { re: /\b(ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{30,}/, why: 'a GitHub token' },
  { re: /\bgithub_pat_[A-Za-z0-9_]{30,}/, why: 'a GitHub token' },
  { re: /\b(AKIA|ASIA)[A-Z0-9]{16}\b/, why: 'an AWS access key id' },
  { re: /\bsk_(live|test)_[A-Za-z0-9]{16,}/, why: 'a Stripe key' },
  { re: /\bxox[abpr]-[A-Za-z0-9-]{10,}/, why: 'a Slack token' },
  { re: /\bFlyV1 fm\d_[A-Za-z0-9_+/=-]{16,}/, why: 'a Fly.io token' },
  { re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/, why: 'a private key' },
  { re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/, why: 'a JWT' },
];

/** Bits per character of `s`: random tokens sit above 4, words and paths well below. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

/** A string that looks generated: long, varied, not a path, URL or version. */
function highEntropy(s: string): boolean {
  // Paths, URLs and digests (`ADD file:<sha256>` in every base image) are not secrets.
  if (s.length < 20 || /^[a-z]+:\/\//i.test(s) || s.includes('/') || /^[0-9a-f]+$/.test(s)) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((r) => r.test(s)).length;
  return classes >= 2 && entropy(s) >= 4;
}

const masked = (value: string) => `[${value.length} chars, not shown]`;

/** Findings in one line of text (a created_by, or an Env entry as NAME=value). */
export function scanLine(text: string): { line: string; why: string[] } {
  const why = new Set<string>();
  let line = text;
  const hide = (value: string) => {
    if (value) line = line.split(value).join(masked(value));
  };
  for (const k of KNOWN) {
    const m = k.re.exec(text);
    if (m) {
      why.add(k.why);
      hide(m[0]);
    }
  }
  // NAME=value assignments (ENV, ARG, RUN's inline variables, --build-arg).
  for (const m of text.matchAll(/\b([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S+)/g)) {
    const name = m[1] as string;
    const value = (m[2] as string).replace(/^["']|["']$/g, '');
    if (!value || /^\$\{?[A-Za-z_]/.test(value)) continue; // empty, or a reference to another variable
    if (SECRET_NAME.test(name) && !NOT_SECRET.test(name)) {
      why.add(`secret-like name ${name} with a value`);
      hide(value);
    } else if (highEntropy(value)) {
      why.add(`high-entropy value of ${name}`);
      hide(value);
    }
  }
  for (const word of text.split(/[\s"'=:,;()]+/))
    if (highEntropy(word) && line.includes(word)) {
      why.add('a high-entropy string');
      hide(word);
    }
  return { line, why: [...why] };
}

/** The findings of an image's config. */
export function auditConfig(config: ImageConfig): Finding[] {
  const findings: Finding[] = [];
  let layer = 0;
  for (const [i, h] of (config.history ?? []).entries()) {
    const where = h.empty_layer ? `history ${i + 1} (no layer)` : `history ${i + 1} (layer ${++layer})`;
    const { line, why } = scanLine(h.created_by ?? '');
    if (why.length) findings.push({ where, line, why: why.join('; ') });
  }
  for (const env of config.config?.Env ?? []) {
    const { line, why } = scanLine(env);
    if (why.length) findings.push({ where: 'config Env', line, why: why.join('; ') });
  }
  return findings;
}

/** Files of a tar archive (ustar, with pax and GNU long names), by name. */
export function untar(buf: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let longName: string | undefined;
  for (let off = 0; off + 512 <= buf.length; ) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, len: number) =>
      header
        .subarray(start, start + len)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    const prefix = field(345, 155);
    let name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    const body = buf.subarray(off + 512, off + 512 + size);
    if (type === 'x') {
      const path = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1];
      if (path) longName = path;
    } else if (type === 'L') longName = body.toString('utf8').replace(/\0.*$/s, '');
    else if (type === '0' || type === '' || type === '7') {
      name = name.replace(/^\.\//, '');
      files.set(name, body);
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** The image config of an OCI layout or a docker save archive (its files by name). */
function configOf(read: (name: string) => Buffer | undefined, what: string): ImageConfig {
  const json = (name: string) => {
    const b = read(name);
    if (!b) throw new Error(`${what}: ${name} is missing`);
    try {
      return JSON.parse(b.toString('utf8'));
    } catch {
      throw new Error(`${what}: ${name} is not JSON`);
    }
  };
  const blob = (digest: string) => `blobs/${digest.replace(':', '/')}`;
  // docker save: manifest.json lists the config file of each image.
  if (read('manifest.json')) {
    const [first] = json('manifest.json') as { Config: string }[];
    if (!first?.Config) throw new Error(`${what}: manifest.json names no image config`);
    return json(first.Config);
  }
  // OCI layout: index.json -> (nested index ->) manifest -> config.
  if (!read('index.json'))
    throw new Error(`${what}: neither a docker save archive (manifest.json) nor an OCI layout (index.json)`);
  let node = json('index.json') as { manifests?: { digest: string }[]; config?: { digest: string } };
  for (let depth = 0; depth < 4 && !node.config; depth++) {
    const next = node.manifests?.[0]?.digest;
    if (!next) throw new Error(`${what}: the index names no manifest`);
    node = json(blob(next));
  }
  if (!node.config) throw new Error(`${what}: no image manifest found`);
  return json(blob(node.config.digest));
}

/** Reads an image at `path`: an OCI layout directory, or a (gzipped) tarball of either kind. */
export function readImageConfig(path: string): ImageConfig {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) throw new Error(`${path}: no such file or directory`);
  if (stat.isDirectory())
    return configOf((name) => {
      try {
        return readFileSync(join(path, name));
      } catch {
        return undefined;
      }
    }, path);
  let buf = readFileSync(path);
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  const files = untar(buf);
  if (!files.size) throw new Error(`${path}: not a tar archive`);
  return configOf((name) => files.get(name), path);
}
