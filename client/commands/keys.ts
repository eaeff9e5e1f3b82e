// rekey keys import: adopt a running deployment's key pair as the first version in its stores.
// rekey keys install: put the stores' current pair on an environment's hosts (a rebuilt VM).

import { fingerprint, normalizePem, parsePrivateKey, publicPemOf } from '../../activities/keys';
import { keyGroupMembers, secretNamesOf } from '../../config/key-groups';
import { storeRegistry } from '../../stores/drivers';
import { storeKeyPair } from '../../stores/pairs';
import { CliError } from '../cli-error';
import { expandToKeyGroups } from '../runs/common';
import {
  type Command,
  confirmStart,
  freezeOverride,
  loadCliConfig,
  type Options,
  parse,
  readLocal,
  requester,
  START_HELP,
  START_OPTIONS,
} from './common';
import { startAndFollow } from './rotate';

const OPTIONS = {
  env: { type: 'string' },
  'private-key': { type: 'string' },
} satisfies Options;

async function importKeys(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const env = values.env;
  const file = values['private-key'];
  if (!env || !file) throw new CliError('keys import needs --env E and --private-key FILE');
  const config = loadCliConfig(values.config);
  if (!config.environments[env])
    throw new CliError(
      `unknown environment "${env}"; configured: ${Object.keys(config.environments).join(', ')}`,
    );
  // Stored as rekey stores every key: LF line ends, one trailing newline.
  const privatePem = normalizePem(readLocal(file, 'private key'));
  parsePrivateKey(privatePem, file);
  const publicPem = publicPemOf(privatePem);
  const fp = fingerprint(publicPem);
  const store = storeRegistry(config.stores);
  // A key group holds one pair: every store of the group gets it, and none may hold one yet.
  const members = keyGroupMembers(config, [env]);
  const targets = members.map((e) => ({
    env: e,
    storeName: config.environments[e]?.store as string,
    names: secretNamesOf(config, e),
  }));
  // An import of this very key that stopped half way may be run again: its versions are reused.
  const runId = `import-${fp.slice(0, 16)}`;
  for (const t of targets) {
    const s = store(t.storeName);
    for (const name of [t.names.privateKey, t.names.publicKey]) {
      const other = (await s.listVersions(name)).find((v) => v.tags.rekeyRunId !== runId);
      if (other)
        throw new CliError(
          `${t.env}: store ${t.storeName} already holds ${name}: import only adopts a pair into empty stores (rotate to replace a key); nothing was changed`,
        );
    }
  }
  const done = new Set<string>();
  for (const t of targets) {
    const key = `${t.storeName}/${t.names.privateKey}`;
    if (done.has(key)) continue;
    done.add(key);
    await storeKeyPair(store(t.storeName), t.names, { privatePem, publicPem, fingerprint: fp }, runId);
    console.log(
      `${t.env}: stored in ${t.storeName} as the first versions of ${t.names.privateKey} / ${t.names.publicKey}`,
    );
  }
  console.log(`imported ${fp.slice(0, 16)} for ${members.join(', ')}; check with: rekey verify`);
  return 0;
}

export const importCommand: Command = {
  usage: `rekey keys import --env E --private-key FILE [--config F]

Adopts a running deployment: stores the key pair of FILE (an EC P-256 private key in PEM; the
public half is derived) as the first versions of the key secrets in the stores of E and of every
environment in its key group. Refused, with nothing changed, when any of those stores already
holds a version (but this key's, from an import that stopped half way: run it again): import
never replaces a key (rotate does). Runs here with this machine's store
credentials; no Temporal needed. The host's key files are not touched.

Example:
  rekey keys import --env prod --private-key ./.generated/spacetimedb-keys/id_ecdsa`,
  options: OPTIONS,
  run: importKeys,
};

const INSTALL_OPTIONS = { ...START_OPTIONS, env: { type: 'string', multiple: true } } satisfies Options;

async function installKeys(args: string[]): Promise<number> {
  const { values } = parse(args, INSTALL_OPTIONS);
  if (!values.env?.length) throw new CliError('keys install needs at least one --env');
  const config = loadCliConfig(values.config);
  const environments = expandToKeyGroups(config, values.env);
  const dryRun = values['dry-run'];
  const gated = confirmStart(
    values,
    config,
    [environments],
    `keys install replaces the key files on ${environments.join(', ')} and restarts them: pass --yes, or preview with --dry-run`,
  );
  return startAndFollow(
    config,
    { environments, dryRun, installOnly: true, ...freezeOverride(values) },
    { gated, wait: values.wait, json: values.json, as: requester(values) },
  );
}

export const installCommand: Command = {
  usage: `rekey keys install --env E [--env E ...] [--dry-run] [--as NAME [--key FILE]] [--yes] [--wait] [--json]
                   [--config F]

Puts the stores' current key pair on the hosts of E (and of its key group), as a rotation installs
a new one: the old files backed up, the new ones written atomically (0600/0644), the publisher
token re-signed if another key signed it (same identity), the service restarted and its publish
checked; a failure puts the backed-up files back. No new version is written: for a rebuilt VM, or
a host whose files drifted from the store. A host without key files is accepted; its token must
then be signed by the store's key. Needs --yes unless the config requires an approval.

${START_HELP}

Examples:
  rekey keys install --env test --dry-run
  rekey keys install --env test --yes --wait`,
  options: INSTALL_OPTIONS,
  run: installKeys,
};
