// The codec's keys as rekey.yaml names them: listed (each from a file or an environment variable,
// as base64 of 32 random bytes: `openssl rand -base64 32`), or a keyring in a secret store that
// `rekey codec-key rotate` adds to. Read when a worker, the CLI or the codec server starts; a
// keyring is read again now and then (worker/codec.ts).
import { readCodecKeyring } from '../activities/codec-key';
import type { Config } from '../config/schema';
import { readSecretSource, sourceText } from '../config/secret-source';
import { FailureType } from '../shared/failures';
import { AesGcmCodec } from './codec';

function listedKeys(codec: Extract<NonNullable<Config['codec']>, { keys: unknown }>) {
  const keys = new Map<string, Uint8Array>();
  for (const [id, source] of Object.entries(codec.keys)) {
    const value = readSecretSource(source, `codec key "${id}"`);
    const where = sourceText(source);
    const key = Buffer.from(value.trim(), 'base64');
    if (key.length !== 32 || key.toString('base64') !== value.trim())
      throw new Error(`codec key "${id}" (${where}): not base64 of 32 bytes (openssl rand -base64 32)`);
    keys.set(id, new Uint8Array(key));
  }
  return keys;
}

/** The config's codec, or undefined when it has none. */
export async function loadCodec(config: Config): Promise<AesGcmCodec | undefined> {
  const codec = config.codec;
  if (!codec) return undefined;
  if ('keys' in codec) return new AesGcmCodec(listedKeys(codec), codec.active);
  const storeConfig = config.stores[codec.store];
  if (!storeConfig) throw new Error(`codec: unknown store "${codec.store}"`);
  // Loaded here: `config check` of a config whose codec keys are files loads no store's SDK.
  const { createSecretStore } = await import('../stores/drivers');
  const secrets = createSecretStore(codec.store, storeConfig);
  const read = async () => {
    const ring = await readCodecKeyring(secrets, codec.secret);
    return { keys: ring.keys, active: ring.active };
  };
  let first: Awaited<ReturnType<typeof read>>;
  try {
    first = await read();
  } catch (err) {
    const missing = (err as { type?: string }).type === FailureType.NotFound;
    throw new Error(
      `codec: ${(err as Error).message}${missing ? ': create the keyring with rekey codec-key init' : ''}`,
    );
  }
  return new AesGcmCodec(first.keys, first.active, read);
}

/** The data converter option for clients and workers: the codec when one is configured. */
export async function dataConverterOf(config: Config | undefined) {
  const codec = config && (await loadCodec(config));
  return codec ? { dataConverter: { payloadCodecs: [codec] } } : {};
}
