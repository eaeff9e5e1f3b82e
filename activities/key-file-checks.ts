// `rekey verify`'s checks of one environment beyond fingerprints, from the guide's checklist: the
// key files on the host (P-256, one pair, modes), the stored values (LF line ends, a trailing
// newline), the compose file (the key dir mounted read-only where the service reads its keys)
// and, where a URL is configured, the public key the running server serves. Read-only; each
// finding names the file, secret or URL.
import { createPublicKey } from 'node:crypto';
import { posix } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { PathsConfig, ServiceConfig } from '../config/schema';
import { type Host, resolveOnHost } from '../hosts/types';
import { fingerprint, normalizePem, parsePrivateKey, parsePublicKey } from './keys';

export interface KeyFileCheck {
  paths: PathsConfig;
  service: ServiceConfig;
  /** The store's current pair, as stored (not normalised). */
  stored: { store: string; privateName: string; publicName: string; privatePem: string; publicPem: string };
  /** Where the environment's service answers: its public key is compared with the store's. */
  url?: string;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Modes the guide asks for: the private key 0600 (0640 lets a service group read it), the
 * public key 0644. More open than that is a finding. */
function modeProblem(file: string, mode: number, kind: 'private' | 'public'): string | undefined {
  const octal = mode.toString(8).padStart(4, '0');
  if (kind === 'private' && (mode & 0o037) !== 0)
    return `${file} has mode ${octal}: a private key must be 0600 (0640 for a group-readable service)`;
  if (kind === 'public' && (mode & 0o022) !== 0) return `${file} has mode ${octal}: expected 0644`;
  return undefined;
}

export async function keyFileProblems(h: Host, c: KeyFileCheck): Promise<string[]> {
  const problems: string[] = [];
  const file = (name: string) => resolveOnHost(h, posix.join(c.paths.keyDir, name));
  const privFile = file(c.paths.privateKeyFile);
  const pubFile = file(c.paths.publicKeyFile);
  const [priv, pub, privStat, pubStat] = await Promise.all([
    h.readFile(privFile),
    h.readFile(pubFile),
    h.stat(privFile),
    h.stat(pubFile),
  ]);
  let derived: string | undefined;
  if (!priv) problems.push(`no private key file at ${privFile}`);
  else {
    try {
      derived = fingerprint(
        createPublicKey(parsePrivateKey(priv.toString(), privFile))
          .export({ type: 'spki', format: 'pem' })
          .toString(),
      );
    } catch (err) {
      problems.push(messageOf(err));
    }
  }
  let onHost: string | undefined;
  if (pub) {
    try {
      parsePublicKey(pub.toString(), pubFile);
      onHost = fingerprint(pub.toString());
    } catch (err) {
      problems.push(messageOf(err));
    }
  }
  if (derived && onHost && derived !== onHost)
    problems.push(
      `${privFile} and ${pubFile} are not one pair (${derived.slice(0, 12)} / ${onHost.slice(0, 12)})`,
    );
  if (derived && c.stored.publicPem) {
    try {
      const storedFp = fingerprint(c.stored.publicPem);
      if (derived !== storedFp)
        problems.push(
          `${privFile} is not the store's current private key (${derived.slice(0, 12)}, store ${c.stored.store} holds ${storedFp.slice(0, 12)})`,
        );
    } catch {
      /* the stored value's own finding comes from the store check */
    }
  }
  for (const [f, st, kind] of [
    [privFile, privStat, 'private'],
    [pubFile, pubStat, 'public'],
  ] as const) {
    const p = st && modeProblem(f, st.mode, kind);
    if (p) problems.push(p);
  }
  for (const [name, value] of [
    [c.stored.privateName, c.stored.privatePem],
    [c.stored.publicName, c.stored.publicPem],
  ] as const) {
    if (value.includes('\r'))
      problems.push(`store ${c.stored.store}: ${name} holds CRLF line ends (store it with LF only)`);
    else if (value && !value.endsWith('\n'))
      problems.push(`store ${c.stored.store}: ${name} has no trailing newline`);
  }
  if (c.service.driver === 'compose') problems.push(...(await composeProblems(h, c)));
  if (c.url) {
    const served = await servedPublicKey(c.url);
    if (typeof served !== 'string') problems.push(served.problem);
    else if (normalizePem(served) !== normalizePem(c.stored.publicPem)) {
      let fp = 'not a public key';
      try {
        fp = fingerprint(served).slice(0, 12);
      } catch {
        /* shown as is */
      }
      problems.push(
        `${c.url}/v1/identity/public-key serves another key (${fp}) than store ${c.stored.store} holds: the service was not restarted on the current key`,
      );
    }
  }
  return problems;
}

/** What the running server says its public key is, or why that could not be read. */
async function servedPublicKey(url: string): Promise<string | { problem: string }> {
  const at = `${url.replace(/\/+$/, '')}/v1/identity/public-key`;
  try {
    const res = await fetch(at, { signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    if (!res.ok) return { problem: `${at} answered ${res.status}` };
    return body;
  } catch (err) {
    return { problem: `${at}: ${messageOf(err)}` };
  }
}

/** The guide's compose contract: the key dir bound read-only at mountTarget, and the server's
 * --jwt-priv-key-path / --jwt-pub-key-path pointing at the files there. */
async function composeProblems(h: Host, c: KeyFileCheck): Promise<string[]> {
  if (c.service.driver !== 'compose') return [];
  const path = resolveOnHost(h, c.service.composeFile);
  const text = await h.readFile(path);
  if (!text) return [`no compose file at ${path}`];
  let doc: { services?: Record<string, { volumes?: unknown[]; command?: unknown; entrypoint?: unknown }> };
  try {
    // `<<: *anchor` merge keys resolved, as compose resolves them.
    doc = parseYaml(text.toString(), { merge: true }) ?? {};
  } catch (err) {
    return [`${path}: not valid YAML (${messageOf(err).split('\n')[0]})`];
  }
  const svc = doc.services?.[c.service.service];
  if (!svc) return [`${path}: no service "${c.service.service}"`];
  const problems: string[] = [];
  const target = posix.normalize(c.paths.mountTarget).replace(/\/+$/, '');
  const keyDir = posix.normalize(resolveOnHost(h, c.paths.keyDir)).replace(/\/+$/, '');
  const binds = (svc.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source = '', tgt = '', mode = ''] = v.split(':');
      // A short source that is not a path (./, ../, / or ~) names a volume, not a directory.
      return { source, target: tgt, readOnly: mode.split(',').includes('ro'), bind: /^[./~]/.test(source) };
    }
    const o = (v ?? {}) as { type?: string; source?: string; target?: string; read_only?: boolean };
    return {
      source: o.source ?? '',
      target: o.target ?? '',
      readOnly: o.read_only === true,
      bind: o.type === 'bind',
    };
  });
  const bind = binds.find((b) => posix.normalize(b.target).replace(/\/+$/, '') === target);
  if (!bind)
    problems.push(`${path}: service ${c.service.service} does not mount ${c.paths.keyDir} at ${target}`);
  else if (!bind.bind)
    problems.push(
      `${path}: ${target} is the volume "${bind.source}", not a bind of the key dir ${keyDir} (write ./ or a path)`,
    );
  else {
    // Compose resolves a relative source against the project directory, which for `docker compose
    // -f FILE` is the file's own directory, not the directory the command runs in.
    const source = posix.isAbsolute(bind.source) ? bind.source : posix.join(posix.dirname(path), bind.source);
    if (posix.normalize(source).replace(/\/+$/, '') !== keyDir)
      problems.push(
        posix.isAbsolute(bind.source)
          ? `${path}: ${target} is mounted from ${bind.source}, not from the key dir ${keyDir}`
          : `${path}: ${target} is mounted from ${bind.source}, which compose resolves against the file's directory: ${posix.normalize(source)}, not the key dir ${keyDir}`,
      );
    if (!bind.readOnly)
      problems.push(`${path}: the key dir is mounted at ${target} read-write; mount it :ro`);
  }
  const words = (v: unknown) =>
    Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split(/\s+/) : [];
  const args = [...words(svc.entrypoint), ...words(svc.command)];
  // Flags passed by a script the entrypoint runs cannot be seen here: only what is written is judged.
  if (!args.some((a) => a.startsWith('--jwt-'))) return problems;
  for (const [flag, fileName] of [
    ['--jwt-priv-key-path', c.paths.privateKeyFile],
    ['--jwt-pub-key-path', c.paths.publicKeyFile],
  ] as const) {
    const at = args.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
    const value =
      at < 0 ? undefined : (args[at] as string).includes('=') ? args[at]?.split('=')[1] : args[at + 1];
    const want = posix.join(target, fileName);
    if (value === undefined)
      problems.push(`${path}: service ${c.service.service} is not started with ${flag}`);
    else if (posix.normalize(value) !== want) problems.push(`${path}: ${flag} is ${value}, expected ${want}`);
  }
  return problems;
}
