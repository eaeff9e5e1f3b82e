// `rekey audit image`: secrets baked into a container image's configuration. An image keeps the
// command that made each layer (`history[].created_by`: RUN, ARG and ENV lines with their values),
// its environment (`config.Env`), command, entrypoint, health check and labels in its config blob, readable by anyone who can pull it. This
// flags secret-like names with values, known token shapes, credentials in URLs, hex keys and
// high-entropy strings (image-reader.ts reads the images). Findings say where (image, history
// entry, layer, Env) and never print the value itself.
import type { Image, ImageConfig } from './image-reader';

export interface Finding {
  /** "history 3 (layer 2)" or "config Env". */
  where: string;
  /** The line with every flagged value replaced by its length. */
  line: string;
  why: string;
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
  { re: /\bnpm_[A-Za-z0-9]{36}\b/, why: 'an npm token' },
  { re: /\bglpat-[A-Za-z0-9_-]{20,}/, why: 'a GitLab token' },
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
  if (s.length < 20 || /^[a-z]+:\/\//i.test(s) || /^[0-9a-f]+$/.test(s)) return false;
  if (/(sha(1|256|384|512)|md5|file|dir):[0-9a-f]{32,}/i.test(s)) return false; // a pinned digest
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((r) => r.test(s)).length;
  // With a slash, only base64 with all three classes counts (paths have dots, dashes, words).
  if (s.includes('/'))
    return !s.startsWith('/') && /^[A-Za-z0-9+/]{24,}={0,2}$/.test(s) && classes === 3 && entropy(s) >= 4.5;
  return classes >= 2 && entropy(s) >= 4;
}

/** `user:password@` in a URL (a variable reference as the password is not a secret). */
const URL_CREDENTIALS = /\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:([^\s@/]+)@/gi;
/** A run of 32+ hex digits: a key, unless a digest or a commit. */
const HEX = /(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])/g;
/** Digests are named by algorithm or `file:`/`dir:` (ADD lines), pinned with `@`, or assigned to
 * a variable that says so (`NODE_SHA256=`, `GIT_COMMIT=`). */
const DIGEST_BEFORE =
  /((sha1|sha256|sha384|sha512|md5|file|dir):|@|\b\w*(sha|digest|hash|checksum|commit|rev)\w*=["']?)$/i;
/** Lines that verify checksums or check out commits carry hex that is not secret. */
const CHECKSUM_LINE = /\b(sha(1|256|384|512)?sum|md5sum|shasum|checksum|integrity|--hash)\b/i;
const GIT_LINE = /\bgit\b/;

/** A variable reference (`$NAME`, `${NAME}`) rather than a value. */
const REFERENCE = /^\$\{?[A-Za-z_]/;

/**
 * Findings in one line of text (a created_by, an Env entry as NAME=value, a label). Each finding
 * marks the characters it covers; the line comes back with every marked run replaced by its
 * length, in one pass over the text, and values found by name or shape masked wherever else they
 * appear in it. A finding inside a run already marked adds no reason.
 */
export function scanLine(text: string): { line: string; why: string[] } {
  const why = new Set<string>();
  const covered = new Uint8Array(text.length);
  const everywhere = new Set<string>();
  const flag = (reason: string, start: number, end: number, all = false) => {
    if (end <= start || covered.subarray(start, end).every((c) => c === 1)) return;
    covered.fill(1, start, end);
    why.add(reason);
    if (all) everywhere.add(text.slice(start, end));
  };
  for (const k of KNOWN)
    for (const m of text.matchAll(new RegExp(k.re.source, 'g')))
      flag(k.why, m.index, m.index + m[0].length, true);
  // A private key: its whole body, to its END line (or the end of the text).
  for (const m of text.matchAll(/-----BEGIN [A-Z ]*PRIVATE KEY-----/g)) {
    const end = /-----END [A-Z ]*PRIVATE KEY-----/g;
    end.lastIndex = m.index;
    const e = end.exec(text);
    flag('a private key', m.index, e ? e.index + e[0].length : text.length);
  }
  // NAME=value assignments (ENV, ARG, RUN's inline variables, --build-arg).
  for (const m of text.matchAll(/\b([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S+)/g)) {
    const name = m[1] as string;
    const raw = m[2] as string;
    const quoted = /^["']/.test(raw) ? 1 : 0;
    const value = raw.slice(quoted, raw.length - quoted);
    if (!value || REFERENCE.test(value)) continue; // empty, or a reference to another variable
    const start = m.index + m[0].length - raw.length + quoted;
    if (SECRET_NAME.test(name) && !NOT_SECRET.test(name))
      flag(`secret-like name ${name} with a value`, start, start + value.length, true);
    else if (highEntropy(value)) flag(`high-entropy value of ${name}`, start, start + value.length, true);
  }
  for (const m of text.matchAll(URL_CREDENTIALS)) {
    const password = m[1] as string;
    if (REFERENCE.test(password)) continue;
    const start = m.index + m[0].length - password.length - 1;
    flag('credentials in a URL', start, start + password.length, true);
  }
  if (!CHECKSUM_LINE.test(text))
    for (const m of text.matchAll(HEX)) {
      const hex = m[0];
      if (DIGEST_BEFORE.test(text.slice(Math.max(0, m.index - 64), m.index))) continue;
      if (hex.length === 40 && GIT_LINE.test(text)) continue;
      flag('a hex key', m.index, m.index + hex.length);
    }
  for (const m of text.matchAll(/[^\s"'=:,;()]+/g))
    if (highEntropy(m[0])) flag('a high-entropy string', m.index, m.index + m[0].length);
  for (const value of everywhere)
    for (let at = text.indexOf(value); at >= 0; at = text.indexOf(value, at + value.length))
      covered.fill(1, at, at + value.length);
  let line = '';
  for (let i = 0; i < text.length; ) {
    let j = i;
    while (j < text.length && covered[j] === covered[i]) j++;
    line += covered[i] ? `[${j - i} chars, not shown]` : text.slice(i, j);
    i = j;
  }
  // Control characters (a terminal's escape sequences) shown, not sent.
  line = line.replace(/\p{Cc}/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
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
  const c = config.config ?? {};
  const words = (v: string[] | string | undefined) => (Array.isArray(v) ? v.join(' ') : (v ?? ''));
  const lines: [string, string][] = [
    ...(c.Env ?? []).map((e): [string, string] => ['config Env', e]),
    ['config Cmd', words(c.Cmd)],
    ['config Entrypoint', words(c.Entrypoint)],
    ['config Healthcheck', words(c.Healthcheck?.Test)],
    ...Object.entries(c.Labels ?? {}).map(([k, v]): [string, string] => ['config Labels', `${k}=${v}`]),
  ];
  for (const [where, text] of lines) {
    const { line, why } = scanLine(String(text));
    if (why.length) findings.push({ where, line, why: why.join('; ') });
  }
  return findings;
}

/** The findings of every image; each `where` starts with the image's label when there are several. */
export function auditImages(images: Image[]): Finding[] {
  return images.flatMap(({ label, config }) =>
    auditConfig(config).map((f) => (images.length > 1 ? { ...f, where: `${label}: ${f.where}` } : f)),
  );
}
