// rekey resign-token: re-sign a cli.toml's publisher token locally, keeping its identity.
import { statSync } from 'node:fs';
import { parsePrivateKey } from '../../activities/keys';
import { resignCliToml } from '../../activities/tokens';
import { writeFileAtomicSync } from '../../hosts/local-files';
import { CliError } from '../cli-error';
import { JSON_OPTION, printJson } from '../json';
import { type Command, type Options, parse, readLocal } from './common';

const OPTIONS = {
  'cli-toml': { type: 'string' },
  'private-key': { type: 'string' },
  // The guide's names for the same two.
  'publisher-cli-toml-path': { type: 'string' },
  'private-key-path': { type: 'string' },
  'old-public-key': { type: 'string' },
  field: { type: 'string', default: 'spacetimedb_token' },
  'dry-run': { type: 'boolean', default: false },
  ...JSON_OPTION,
} satisfies Options;

async function resignToken(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const tomlPath = values['cli-toml'] ?? values['publisher-cli-toml-path'];
  const keyPath = values['private-key'] ?? values['private-key-path'];
  if (!tomlPath || !keyPath) throw new CliError('resign-token needs --cli-toml P and --private-key P');
  const text = readLocal(tomlPath, 'cli.toml');
  const privatePem = readLocal(keyPath, 'private key');
  parsePrivateKey(privatePem, keyPath);
  const oldKeyPath = values['old-public-key'];
  const signers = oldKeyPath ? [readLocal(oldKeyPath, 'old public key')] : null;
  if (!signers && !values.json)
    console.log(
      `${tomlPath}: the token's signature is not checked (pass --old-public-key with the key that signed it)`,
    );
  const result = await resignCliToml(text, privatePem, values.field, tomlPath, signers);
  const dryRun = values['dry-run'];
  if (result.changed && !dryRun) writeFileAtomicSync(tomlPath, result.text, statSync(tomlPath).mode & 0o777);
  const id = result.after;
  if (values.json) {
    printJson('resign-token', {
      file: tomlPath,
      changed: result.changed,
      dryRun,
      signatureChecked: signers !== null,
      identity: { iss: id.iss, sub: id.sub, ...(id.hexIdentity ? { hexIdentity: id.hexIdentity } : {}) },
    });
    return 0;
  }
  console.log(
    `${tomlPath}: ${result.changed ? (dryRun ? 'would be re-signed (dry run: unchanged)' : 're-signed') : 'already signed by this key; unchanged'}`,
  );
  console.log(
    `identity kept: iss=${id.iss} sub=${id.sub}${id.hexIdentity ? ` hex_identity=${id.hexIdentity}` : ''}`,
  );
  return 0;
}

export const command: Command = {
  usage: `rekey resign-token --cli-toml P --private-key P [--old-public-key P] [--field NAME] [--dry-run] [--json]

Re-signs the publisher token in a cli.toml with a private key, keeping its identity (iss, sub,
aud, hex_identity); local, no Temporal needed. Use it on a destination after copying data from
another environment. --old-public-key: the key that signed the token (the source's); a token it
did not sign is refused. Without it nothing is checked. --publisher-cli-toml-path and
--private-key-path (the guide's names) are accepted for --cli-toml and --private-key. --dry-run:
check and say what would change, write nothing. --json: one document
(schemas/resign-token.schema.json) with the identity kept, never the token.`,
  options: OPTIONS,
  run: resignToken,
};
