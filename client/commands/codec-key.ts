// rekey codec-key init / rotate: the payload codec's own key, kept as a keyring in a store.
import { randomUUID } from 'node:crypto';
import type { CodecKeyringFacts } from '../../activities/codec-key';
import { addCodecKey, codecKeyringOf } from '../../activities/codec-key';
import type { Config } from '../../config/schema';
import { createSecretStore } from '../../stores/drivers';
import { loadCodec } from '../../temporal/codec-keys';
import { JSON_OPTION, printJson } from '../json';
import { startCodecKeyRotation } from '../runs/codec-key';
import { followRun, withClient } from '../runs/common';
import { type Command, loadCliConfig, type Options, parse } from './common';

const ring = (f: CodecKeyringFacts) =>
  `key ${f.active} active; the ring holds ${f.keys.join(', ')} (version ${f.version})`;

function keyringOf(config: Config) {
  const { store, secret } = codecKeyringOf(config);
  return { store, secret, secrets: createSecretStore(store, config.stores[store] as never) };
}

/** The keyring as a script reads it (schemas/codec-keyring.schema.json): ids, never keys. */
const printRing = (
  at: { store: string; secret: string },
  f: Omit<CodecKeyringFacts, 'version'> & { version?: string },
  more: { dryRun: boolean; workflowId?: string },
) =>
  printJson('codec-keyring', {
    store: at.store,
    secret: at.secret,
    active: f.active,
    keys: f.keys,
    ...(f.version ? { version: f.version } : {}),
    ...more,
  });

async function init(args: string[]): Promise<number> {
  const { values } = parse(args, JSON_OPTION);
  const config = loadCliConfig(values.config);
  const { store, secret, secrets } = keyringOf(config);
  const facts = await addCodecKey(secrets, secret, `init-${randomUUID()}`, { create: true });
  if (values.json) printRing({ store, secret }, facts, { dryRun: false });
  else console.log(`codec keyring ${store}/${secret} created: ${ring(facts)}`);
  return 0;
}

const ROTATE_OPTIONS = { 'dry-run': { type: 'boolean', default: false }, ...JSON_OPTION } satisfies Options;

async function rotate(args: string[]): Promise<number> {
  const { values } = parse(args, ROTATE_OPTIONS);
  const config = loadCliConfig(values.config);
  const { store, secret } = keyringOf(config);
  if (values['dry-run']) {
    const codec = await loadCodec(config);
    const keys = codec?.keyIds ?? [];
    if (values.json) {
      printRing({ store, secret }, { active: keys[0] ?? '', keys }, { dryRun: true });
      return 0;
    }
    console.log(
      `dry run: codec keyring ${store}/${secret} holds ${codec?.keyIds.join(', ')} (active first); a rotation adds a key and makes it active, and removes none; nothing was changed`,
    );
    return 0;
  }
  return withClient(
    async (client) => {
      const handle = await startCodecKeyRotation(client, config);
      if (!values.json) console.log(`started ${handle.workflowId}`);
      const facts = await followRun(client, handle, { quiet: values.json });
      if (values.json) {
        printRing({ store, secret }, facts, { dryRun: false, workflowId: handle.workflowId });
        return 0;
      }
      console.log(
        `codec keyring ${store}/${secret}: ${ring(facts)}. Workers, the CLI and codec servers seal with it once they re-read the ring (within 5 minutes, or at a restart) and open payloads under it at once.`,
      );
      return 0;
    },
    { needsWorker: true, config },
  );
}

export const initCommand: Command = {
  usage: `rekey codec-key init [--config F] [--json]

Creates the codec keyring that rekey.yaml names (codec: {store: S, secret: NAME}): one fresh
AES-256 key, active. Refused when the secret already exists. Run it once, before the first
worker starts with that config; the key never leaves the store (only its id is printed).
--json: the keyring's ids as one document (schemas/codec-keyring.schema.json).

Exit codes: 0 created; 1 the store failed; 2 no keyring in the config, or it exists already.

Example:
  rekey codec-key init --config rekey.yaml`,
  options: JSON_OPTION,
  run: init,
};

export const rotateCommand: Command = {
  usage: `rekey codec-key rotate [--dry-run] [--config F] [--json]

Rotates the payload codec's own key: a workflow adds a fresh key to the keyring and makes it
active. No key is removed, so every payload sealed before still opens; workers, the CLI and
codec servers seal with the new key once they re-read the ring (every 5 minutes, and at start)
and open payloads sealed under it at once. --dry-run shows the ring and changes nothing. --json:
the ring's ids after it, one document (schemas/codec-keyring.schema.json).

Exit codes: 0 rotated; 1 the run failed; 2 no keyring in the config, or bad options.

Example:
  rekey codec-key rotate --config rekey.yaml`,
  options: ROTATE_OPTIONS,
  run: rotate,
};
