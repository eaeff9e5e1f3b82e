// The file store: one JSON file per secret holding every version, written atomically, mode 0600.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../hosts/local-files';
import { FailureType, fail } from '../../shared/failures';
import type { SecretStore, SecretVersionInfo, StoreDriver } from '../types';
import type { FileStoreConfig } from './config';

interface FileSecret {
  versions: (SecretVersionInfo & { value: string })[];
}

class FileStore implements SecretStore {
  constructor(
    readonly name: string,
    private readonly dir: string,
  ) {}

  private path(secret: string): string {
    if (!/^[A-Za-z0-9-]+$/.test(secret))
      throw fail(FailureType.BadInput, `store ${this.name}: bad secret name "${secret}"`);
    return join(this.dir, `${secret}.json`);
  }

  private load(secret: string): FileSecret {
    const path = this.path(secret);
    let doc: FileSecret;
    try {
      doc = JSON.parse(readFileSync(path, 'utf8')) as FileSecret;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { versions: [] };
      throw fail(FailureType.BadInput, `store ${this.name}: ${path} is unreadable or not JSON`);
    }
    if (!Array.isArray(doc?.versions))
      throw fail(FailureType.BadInput, `store ${this.name}: ${path} has no "versions" list`);
    return doc;
  }

  async set(name: string, value: string, tags: Record<string, string>) {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const doc = this.load(name);
    const v = {
      name,
      version: randomBytes(16).toString('hex'),
      tags,
      createdOn: new Date().toISOString(),
      enabled: true,
      value,
    };
    doc.versions.push(v);
    writeFileAtomicSync(this.path(name), JSON.stringify(doc, null, 2), 0o600);
    const { value: _value, ...rest } = v;
    return rest;
  }

  async get(name: string, version?: string) {
    const versions = this.load(name).versions;
    const v = version ? versions.find((x) => x.version === version) : versions.at(-1);
    if (!v)
      throw fail(
        FailureType.NotFound,
        `store ${this.name}: secret ${name}${version ? ` version ${version}` : ''} not found`,
      );
    return v;
  }

  async listVersions(name: string) {
    return this.load(name).versions.map(({ value: _value, ...rest }) => rest);
  }

  async current(name: string) {
    return (await this.listVersions(name)).at(-1) ?? null;
  }

  async disable(name: string, version: string) {
    const doc = this.load(name);
    const v = doc.versions.find((x) => x.version === version);
    if (!v?.enabled) return;
    v.enabled = false;
    writeFileAtomicSync(this.path(name), JSON.stringify(doc, null, 2), 0o600);
  }
}

export const driver: StoreDriver<FileStoreConfig> = {
  open: (storeName, cfg) => new FileStore(storeName, cfg.dir),
};
