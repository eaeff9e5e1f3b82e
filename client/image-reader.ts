// Reads the image configs of an OCI image layout (a directory) or a `docker save` tarball
// (optionally gzipped) for `rekey audit image`. The archive is untrusted input, and tar readers
// disagree on crafted archives (which of two `manifest.json` wins, links, sparse files, a lone
// zero block), so rekey does not rely on reading it as any one of them does: it reads the
// manifests to name the images (docker's manifest.json and the OCI index, both when both are
// there), then audits every JSON file in the archive that is an image config, whatever names or
// links point at it. It is read with node-tar (a maintained implementation that honours pax
// headers as GNU tar and Python do) under limits on entry size, entry count, JSON kept and
// decompression ratio; entries GNU tar would extract but node-tar skips are refused; digests are
// validated before any path is built and blobs checked against them.
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { join, relative, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';

export interface ImageConfig {
  config?: {
    Env?: string[];
    Cmd?: string[] | string;
    Entrypoint?: string[] | string;
    Labels?: Record<string, string>;
    Healthcheck?: { Test?: string[] };
  };
  history?: { created_by?: string; empty_layer?: boolean }[];
}

/** One image of the archive: a label (tag, platform, or the file it was found in) and its config. */
export interface Image {
  label: string;
  config: ImageConfig;
}

export const LIMITS = {
  /** Largest JSON file read (manifests and configs are a few KiB). */
  entryBytes: 4 << 20,
  /** JSON kept in memory at once, all files together. */
  jsonBytes: 64 << 20,
  /** Entries of a tarball, or files of a layout directory. */
  entries: 10_000,
  /** Gzip output per input byte, past the first `freeBytes` (deflate bombs reach ~1000). */
  ratio: 100,
  freeBytes: 64 << 20,
  /** Images named by the manifests, through nested indexes. */
  manifests: 256,
};

const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** Thrown for an archive that is not a readable image; the CLI names the path. */
class ImageError extends Error {}

/** A name as GNU tar extracts it: no leading `/` or `./`, no `//` or `/./`; `..` refused. */
function normalize(name: string): string {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ImageError(`${name}: a name with '..' in it`);
  return parts.join('/');
}

/** A PAX 1.0 sparse file's data without its map (GNU tar, Python and Go extract the data; a
 * reader that does not know the format sees the map first): the map is decimal lines, a count
 * then offset/size pairs, padded to a 512-byte block. Other bodies as they are. */
function unsparse(body: Buffer): Buffer {
  const lines: string[] = [];
  let at = 0;
  // The count, then two numbers per chunk; each line at most 20 digits.
  while (lines.length < 1 + 2 * Number(lines[0] ?? 0) || lines.length === 0) {
    const nl = body.indexOf(0x0a, at);
    if (nl < 0 || nl - at > 20 || lines.length > 20_001) return body;
    const line = body.toString('latin1', at, nl);
    if (!/^\d+$/.test(line)) return body;
    lines.push(line);
    at = nl + 1;
  }
  const data = Math.ceil(at / 512) * 512;
  if (data > body.length || body.subarray(at, data).some((b) => b !== 0)) return body;
  return body.subarray(data);
}

/** The files of an image that may be JSON (a `{` or `[` first), by normalized name, under the
 * size limits; the names of those too large to be JSON are kept to say so. Later entries of a
 * name replace earlier ones, as tar extracts them. */
class Files {
  private readonly json = new Map<string, Buffer>();
  private readonly large = new Set<string>();
  private kept = 0;
  add(name: string, body: Buffer | 'too large'): void {
    this.json.delete(name);
    this.large.delete(name);
    if (body === 'too large') {
      this.large.add(name);
      return;
    }
    body = unsparse(body);
    const first = body.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
    if (first !== 0x7b && first !== 0x5b) return;
    this.kept += body.length;
    if (this.kept > LIMITS.jsonBytes)
      throw new ImageError(`more than ${LIMITS.jsonBytes >> 20} MiB of JSON files`);
    this.json.set(name, body);
  }
  has(name: string): boolean {
    return this.json.has(name) || this.large.has(name);
  }
  get(name: string): Buffer | undefined {
    if (this.large.has(name)) throw new ImageError(`${name} is larger than ${LIMITS.entryBytes >> 20} MiB`);
    return this.json.get(name);
  }
  names(): string[] {
    return [...this.json.keys()];
  }
}

/** The first bytes of a file (compression magic). */
function readHead(path: string): Buffer {
  const b = Buffer.alloc(6);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, b, 0, 6, 0);
  } finally {
    closeSync(fd);
  }
  return b;
}

const COMPRESSED: [string, number[]][] = [
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** The JSON files of a tarball. */
async function readTarball(path: string): Promise<Files> {
  const files = new Files();
  let entries = 0;
  let failure: Error | undefined;
  const refuse = (why: string) => {
    failure ??= new ImageError(why);
  };
  const parser = new Parser({
    strict: true,
    onReadEntry(entry: ReadEntry) {
      if (failure) return entry.resume();
      const name = entry.path;
      if (++entries > LIMITS.entries) refuse(`more than ${LIMITS.entries} entries`);
      // node-tar reads a size field it cannot parse as 0, where GNU tar refuses the archive.
      else if (!Number.isSafeInteger(entry.header.size) || (entry.header.size as number) < 0)
        refuse(`not a valid tar archive (${name} has no valid size)`);
      // GNU tar expands sparse files; their stored bytes are not the file.
      if (failure || !/^(File|OldFile|ContiguousFile)$/.test(entry.type)) return entry.resume();
      if (entry.size > LIMITS.entryBytes) {
        files.add(normalize(name), 'too large'); // a layer, or refused if a manifest names it
        return entry.resume();
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => {
        try {
          files.add(normalize(name), Buffer.concat(chunks));
        } catch (err) {
          failure ??= err as Error;
        }
      });
    },
  });
  // Entry types node-tar skips, GNU tar extracts as files.
  parser.on('ignoredEntry', (entry: ReadEntry) =>
    refuse(
      `${entry.path} has an entry type (${entry.header.type ?? '?'}) this reader skips and GNU tar extracts`,
    ),
  );
  let input = 0;
  let output = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      output += chunk.length;
      if (output > LIMITS.freeBytes && output > LIMITS.ratio * input)
        done(new ImageError(`decompresses to more than ${LIMITS.ratio} times its size (a gzip bomb?)`));
      else done(null, chunk);
    },
  });
  const head = readHead(path);
  for (const [kind, magic] of COMPRESSED)
    if (magic.every((b, i) => head[i] === b))
      throw new ImageError(`compressed with ${kind}: decompress it first, or save it as .tar or .tar.gz`);
  const source = createReadStream(path).on('data', (c) => {
    input += c.length;
  });
  try {
    if (head[0] === 0x1f && head[1] === 0x8b) await pipeline(source, createGunzip(), counted, parser);
    else await pipeline(source, parser);
  } catch (err) {
    if (failure || err instanceof ImageError) throw failure ?? err;
    throw new ImageError(`not a valid tar archive (${(err as Error).message})`);
  }
  if (failure) throw failure;
  if (!entries) throw new ImageError('not a tar archive');
  return files;
}

/** The JSON files of a layout directory, read without following links out of it. */
function readDirectory(dir: string): Files {
  const files = new Files();
  const root = realpathSync(dir);
  let count = 0;
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      const stat = lstatSync(path);
      if (++count > LIMITS.entries) throw new ImageError(`more than ${LIMITS.entries} files`);
      if (stat.isDirectory()) walk(path);
      // Links are not followed: what one inside the layout leads to is read as a file of its own.
      if (!stat.isFile()) continue;
      const rel = relative(root, path).split(sep).join('/');
      if (stat.size > LIMITS.entryBytes) {
        files.add(rel, 'too large');
        continue;
      }
      const fd = openSync(path, 'r');
      try {
        // Read through the descriptor opened, bounded by its size then.
        const size = Math.min(fstatSync(fd).size, LIMITS.entryBytes);
        const body = Buffer.alloc(size);
        readSync(fd, body, 0, size, 0);
        files.add(rel, body);
      } finally {
        closeSync(fd);
      }
    }
  };
  walk(root);
  return files;
}

function json(files: Files, name: string): unknown {
  const b = files.get(normalize(name));
  if (!b) throw new ImageError(`${name} is missing or not JSON`);
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    throw new ImageError(`${name} is not JSON`);
  }
}

/** A blob by digest, its content checked against the digest. */
function blob(files: Files, digest: unknown, where: string): unknown {
  if (typeof digest !== 'string' || !DIGEST.test(digest)) throw new ImageError(`${where} is not a digest`);
  const [algorithm, hex] = digest.split(':') as [string, string];
  const name = `blobs/${algorithm}/${hex}`;
  const b = files.get(name);
  if (!b) throw new ImageError(`${name} (${where}) is missing or not JSON`);
  if (createHash(algorithm).update(b).digest('hex') !== hex)
    throw new ImageError(`${name} does not match its digest`);
  return json(files, name);
}

interface Descriptor {
  digest?: unknown;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}
interface Node {
  manifests?: Descriptor[];
  config?: Descriptor;
}

/** Labels of the image configs an OCI index names (by config blob name), through nested indexes. */
function ociLabels(files: Files, labels: Map<string, string>): void {
  let followed = 0;
  const walk = (node: Node, where: string, label: string, depth: number) => {
    if (node.config) {
      blob(files, node.config.digest, `${where}: config.digest`);
      const name = `blobs/${String(node.config.digest).replace(':', '/')}`;
      if (!labels.has(name)) labels.set(name, label);
      return;
    }
    if (!Array.isArray(node.manifests)) throw new ImageError(`${where} names no manifest`);
    if (depth > 4) throw new ImageError(`${where}: indexes nested more than 4 deep`);
    for (const [i, d] of node.manifests.entries()) {
      if (++followed > LIMITS.manifests) throw new ImageError(`more than ${LIMITS.manifests} manifests`);
      const p = d.platform;
      const name = p?.os ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : undefined;
      const ref = d.annotations?.['org.opencontainers.image.ref.name'];
      const at = `${where}: manifests[${i}].digest`;
      walk(
        blob(files, d.digest, at) as Node,
        `manifest ${i}`,
        name ?? ref ?? label ?? `manifest ${i}`,
        depth + 1,
      );
    }
  };
  walk(json(files, 'index.json') as Node, 'index.json', '', 0);
}

/** Labels of the image configs a docker save manifest.json lists (by file name). */
function dockerLabels(files: Files, labels: Map<string, string>): void {
  const list = json(files, 'manifest.json');
  if (!Array.isArray(list) || !list.length) throw new ImageError('manifest.json lists no image');
  if (list.length > LIMITS.manifests) throw new ImageError(`more than ${LIMITS.manifests} images`);
  for (const [i, m] of (list as { Config?: unknown; RepoTags?: string[] }[]).entries()) {
    if (typeof m?.Config !== 'string')
      throw new ImageError(`manifest.json: image ${i + 1} names no image config`);
    const name = normalize(m.Config);
    json(files, name);
    if (!labels.has(name)) labels.set(name, m.RepoTags?.[0] ?? `image ${i + 1}`);
  }
}

/** A parsed JSON file that is an image config (history, or an Env/Cmd under config, or rootfs). */
function asImageConfig(value: unknown): ImageConfig | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const config = v.config as Record<string, unknown> | undefined;
  const looksLike =
    Array.isArray(v.history) ||
    (typeof v.rootfs === 'object' && v.rootfs !== null) ||
    (typeof config === 'object' && config !== null && ('Env' in config || 'Cmd' in config));
  return looksLike ? (v as ImageConfig) : undefined;
}

/**
 * The images at `path` (an OCI layout directory, or a tarball of either kind): those the manifests
 * name, with their tags or platforms, then every other image config in it, named by its file.
 * Each config once (by content).
 */
export async function readImages(path: string): Promise<Image[]> {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) throw new Error(`${path}: no such file or directory`);
  try {
    const files = stat.isDirectory() ? readDirectory(path) : await readTarball(path);
    const labels = new Map<string, string>();
    const docker = files.has('manifest.json');
    const oci = files.has('index.json');
    if (!docker && !oci)
      throw new ImageError('neither a docker save archive (manifest.json) nor an OCI layout (index.json)');
    if (docker) dockerLabels(files, labels);
    if (oci) ociLabels(files, labels);
    const seen = new Set<string>();
    const images: Image[] = [];
    const named = [...labels.keys()];
    for (const name of [
      ...named,
      ...files
        .names()
        .filter((n) => !labels.has(n))
        .sort(),
    ]) {
      const body = files.get(name) as Buffer;
      const hash = createHash('sha256').update(body).digest('hex');
      if (seen.has(hash)) continue;
      let config: ImageConfig | undefined;
      try {
        config = asImageConfig(JSON.parse(body.toString('utf8')));
      } catch {
        continue; // not JSON after all
      }
      if (!config) continue;
      seen.add(hash);
      images.push({ label: labels.get(name) ?? `${name} (named by no manifest)`, config });
    }
    return images;
  } catch (err) {
    if (err instanceof ImageError) throw new Error(`${path}: ${err.message}`);
    throw err;
  }
}
