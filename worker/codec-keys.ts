// The codec's keys as rekey.yaml names them: each from a file or an environment variable, as
// base64 of 32 random bytes (`openssl rand -base64 32`). Read once, when a worker, the CLI or the
// codec server starts.
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema';
import { AesGcmCodec } from './codec';

export function codecOf(config: Config): AesGcmCodec | undefined {
  if (!config.codec) return undefined;
  const keys = new Map<string, Uint8Array>();
  for (const [id, source] of Object.entries(config.codec.keys)) {
    let value: string | undefined;
    let where: string;
    if ('file' in source) {
      where = `file ${source.file}`;
      try {
        value = readFileSync(source.file, 'utf8');
      } catch (err) {
        throw new Error(`codec key "${id}": cannot read ${where} (${(err as NodeJS.ErrnoException).code})`);
      }
    } else {
      where = `$${source.env}`;
      value = process.env[source.env];
      if (value === undefined) throw new Error(`codec key "${id}": ${where} is not set`);
    }
    const key = Buffer.from(value.trim(), 'base64');
    if (key.length !== 32 || key.toString('base64') !== value.trim())
      throw new Error(`codec key "${id}" (${where}): not base64 of 32 bytes (openssl rand -base64 32)`);
    keys.set(id, new Uint8Array(key));
  }
  return new AesGcmCodec(keys, config.codec.active);
}

/** The data converter option for clients and workers: the codec when one is configured. */
export function dataConverterOf(config: Config | undefined) {
  const codec = config && codecOf(config);
  return codec ? { dataConverter: { payloadCodecs: [codec] } } : {};
}
