// `rekey audit image`: secrets baked into a container image's configuration. An image keeps the
// command that made each layer (`history[].created_by`: RUN, ARG and ENV lines with their values)
// and its environment (`config.Env`) in its config blob, readable by anyone who can pull it. This
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
const URL_CREDENTIALS = /\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/]+:([^\s@/]+)@/gi;
/** A run of 32+ hex digits: a key, unless a digest or a commit. */
const HEX = /(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])/g;
/** Digests are named by algorithm or `file:`/`dir:` (ADD lines), pinned with `@`, or assigned to
 * a variable that says so (`NODE_SHA256=`, `GIT_COMMIT=`). */
const DIGEST_BEFORE =
  /((sha1|sha256|sha384|sha512|md5|file|dir):|@|\b\w*(sha|digest|hash|checksum|commit|rev)\w*=["']?)$/i;
/** Lines that verify checksums or check out commits carry hex that is not secret. */
const CHECKSUM_LINE = /\b(sha(1|256|384|512)?sum|md5sum|shasum|checksum|integrity|--hash)\b/i;
const GIT_LINE = /\bgit\b/;

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
  for (const m of text.matchAll(URL_CREDENTIALS)) {
    const password = m[1] as string;
    if (/^\$\{?[A-Za-z_]/.test(password) || !line.includes(password)) continue;
    why.add('credentials in a URL');
    hide(password);
  }
  if (!CHECKSUM_LINE.test(text))
    for (const m of text.matchAll(HEX)) {
      const hex = m[0];
      const before = text.slice(0, m.index);
      if (DIGEST_BEFORE.test(before) || (hex.length === 40 && GIT_LINE.test(text)) || !line.includes(hex))
        continue;
      why.add('a hex key');
      hide(hex);
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

/** The findings of every image; each `where` starts with the image's label when there are several. */
export function auditImages(images: Image[]): Finding[] {
  return images.flatMap(({ label, config }) =>
    auditConfig(config).map((f) => (images.length > 1 ? { ...f, where: `${label}: ${f.where}` } : f)),
  );
}
