// Reads the image configs of an OCI image layout (a directory) or a `docker save` tarball
// (optionally gzipped) for `rekey audit image`. The archive is untrusted input: it is read with
// node-tar (a maintained implementation that honours pax headers as GNU tar and Python do, so
// rekey audits the files they would extract), under limits on entry size, entry count and
// decompression ratio; digests are validated before any path is built and blobs checked against
// them; every image of a docker save archive and every manifest of an index is read.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';

export interface ImageConfig {
  config?: { Env?: string[] };
  history?: { created_by?: string; empty_layer?: boolean }[];
}

/** One image of the archive: a label (tag, platform) and its config. */
export interface Image {
  label: string;
  config: ImageConfig;
}

export const LIMITS = {
  /** Largest manifest or config read (real ones are a few KiB). */
  entryBytes: 4 << 20,
  /** Entries of a tarball: a docker save or OCI archive has a few per layer. */
  entries: 10_000,
  /** Gzip output per input byte, past the first `freeBytes` (deflate bombs reach ~1000). */
  ratio: 100,
  freeBytes: 64 << 20,
  /** Manifests followed through nested indexes. */
  manifests: 256,
};

const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** Thrown for an archive that is not a readable image; the CLI names the path. */
class ImageError extends Error {}

/** A file of the image by name: its bytes, or undefined when absent. */
type Read = (name: string) => Buffer | undefined;

/** The files of a tarball small enough to be JSON, by name (later entries win, as tar extracts). */
async function readTarball(path: string): Promise<Read> {
  const files = new Map<string, Buffer>();
  const tooLarge = new Set<string>();
  let entries = 0;
  let failure: Error | undefined;
  const parser = new Parser({
    strict: true,
    onReadEntry(entry: ReadEntry) {
      const name = entry.path.replace(/^(\.\/)+/, '');
      if (++entries > LIMITS.entries) failure ??= new ImageError(`more than ${LIMITS.entries} entries`);
      // node-tar reads a size field it cannot parse as 0, where GNU tar refuses the archive.
      else if (!Number.isSafeInteger(entry.header.size) || (entry.header.size as number) < 0)
        failure ??= new ImageError(`not a valid tar archive (${name} has no valid size)`);
      if (failure || !/^(File|OldFile|ContiguousFile)$/.test(entry.type)) return entry.resume();
      files.delete(name);
      tooLarge.delete(name);
      if (entry.size > LIMITS.entryBytes) {
        tooLarge.add(name);
        return entry.resume();
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => files.set(name, Buffer.concat(chunks)));
    },
  });
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
  return (name) => {
    if (tooLarge.has(name)) throw new ImageError(`${name} is larger than ${LIMITS.entryBytes >> 20} MiB`);
    return files.get(name);
  };
}

/** The first two bytes of a file (the gzip magic). */
function readHead(path: string): Buffer {
  const b = Buffer.alloc(2);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, b, 0, 2, 0);
  } finally {
    closeSync(fd);
  }
  return b;
}

/** The files of an OCI layout directory; names come only from validated digests or fixed names. */
function readDirectory(dir: string): Read {
  return (name) => {
    const stat = statSync(join(dir, name), { throwIfNoEntry: false });
    if (!stat?.isFile()) return undefined;
    if (stat.size > LIMITS.entryBytes)
      throw new ImageError(`${name} is larger than ${LIMITS.entryBytes >> 20} MiB`);
    return readFileSync(join(dir, name));
  };
}

function json(read: Read, name: string): unknown {
  const b = read(name);
  if (!b) throw new ImageError(`${name} is missing`);
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    throw new ImageError(`${name} is not JSON`);
  }
}

/** A blob by digest, its content checked against the digest. */
function blob(read: Read, digest: unknown, where: string): unknown {
  if (typeof digest !== 'string' || !DIGEST.test(digest)) throw new ImageError(`${where} is not a digest`);
  const [algorithm, hex] = digest.split(':') as [string, string];
  const name = `blobs/${algorithm}/${hex}`;
  const b = read(name);
  if (!b) throw new ImageError(`${name} (${where}) is missing`);
  if (createHash(algorithm).update(b).digest('hex') !== hex)
    throw new ImageError(`${name} does not match its digest`);
  return json(() => b, name);
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

/** Every image config an OCI index names, through nested indexes. */
function ociImages(read: Read): Image[] {
  const images: Image[] = [];
  const seen = new Set<unknown>();
  let followed = 0;
  const walk = (node: Node, where: string, label: string, depth: number) => {
    if (node.config) {
      if (seen.has(node.config.digest)) return;
      seen.add(node.config.digest);
      images.push({
        label,
        config: blob(read, node.config.digest, `${where}: config.digest`) as ImageConfig,
      });
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
        blob(read, d.digest, at) as Node,
        `manifest ${i}`,
        name ?? ref ?? label ?? `manifest ${i}`,
        depth + 1,
      );
    }
  };
  walk(json(read, 'index.json') as Node, 'index.json', '', 0);
  return images;
}

/** Every image a docker save manifest.json lists. */
function dockerImages(read: Read): Image[] {
  const list = json(read, 'manifest.json');
  if (!Array.isArray(list) || !list.length) throw new ImageError('manifest.json lists no image');
  return list.map((m: { Config?: unknown; RepoTags?: string[] }, i) => {
    const name = m.Config;
    if (typeof name !== 'string' || name.startsWith('/') || name.split('/').includes('..'))
      throw new ImageError(`manifest.json: image ${i + 1} names no image config`);
    return { label: m.RepoTags?.[0] ?? `image ${i + 1}`, config: json(read, name) as ImageConfig };
  });
}

/** The images at `path` (an OCI layout directory, or a tarball of either kind), each config once. */
export async function readImages(path: string): Promise<Image[]> {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) throw new Error(`${path}: no such file or directory`);
  try {
    const read = stat.isDirectory() ? readDirectory(path) : await readTarball(path);
    if (read('manifest.json')) return dockerImages(read);
    if (read('index.json')) return ociImages(read);
    throw new ImageError('neither a docker save archive (manifest.json) nor an OCI layout (index.json)');
  } catch (err) {
    if (err instanceof ImageError) throw new Error(`${path}: ${err.message}`);
    throw err;
  }
}
