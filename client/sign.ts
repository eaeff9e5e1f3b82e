// Approver signatures made with OpenSSH's own tool, so that what `rekey approve` does is what an
// approver can do by hand: `printf %s MESSAGE | ssh-keygen -Y sign -n rekey-approval -f KEY`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema';
import { APPROVAL_NAMESPACE, parseSshPublicKey, sshFingerprint, verifySshSignature } from '../shared/sshsig';
import { RequestRefused } from './runs/errors';

/**
 * `who`'s SSHSIG over `message`: with `keyFile` (a private key, or a public key whose private half
 * ssh-agent holds), else with the configured public key through ssh-agent. Checked against the
 * configured key before it is sent, so a wrong key fails here with both fingerprints.
 */
export function signAs(config: Config, who: string, message: string, keyFile?: string): string {
  const configured = Object.hasOwn(config.approvals.approvers, who)
    ? config.approvals.approvers[who]
    : undefined;
  if (configured === undefined)
    throw new RequestRefused(
      `"${who}" is not an approver (approvers: ${Object.keys(config.approvals.approvers).join(', ') || 'none'})`,
    );
  if (!configured)
    throw new RequestRefused(`${who} has no SSH public key in the config (approvals.approvers.${who})`);
  const tmp = mkdtempSync(join(tmpdir(), 'rekey-sign-'));
  try {
    let file = keyFile;
    if (!file) {
      if (!process.env.SSH_AUTH_SOCK)
        throw new RequestRefused(`no --key FILE and no ssh-agent (SSH_AUTH_SOCK) to sign as ${who}`);
      file = join(tmp, 'approver.pub');
      writeFileSync(file, `${configured.trim()}\n`);
    }
    const r = spawnSync('ssh-keygen', ['-Y', 'sign', '-n', APPROVAL_NAMESPACE, '-f', file], {
      input: message,
      encoding: 'utf8',
    });
    if (r.error) throw new RequestRefused(`cannot run ssh-keygen: ${r.error.message}`);
    if (r.status !== 0)
      throw new RequestRefused(
        `ssh-keygen could not sign as ${who} with ${keyFile ?? 'ssh-agent'}: ${r.stderr.trim()}`,
      );
    const key = parseSshPublicKey(configured);
    try {
      verifySshSignature(r.stdout, key, APPROVAL_NAMESPACE, message);
    } catch (err) {
      throw new RequestRefused(
        `the signature made with ${keyFile ?? 'ssh-agent'} is not ${who}'s (configured key ${sshFingerprint(key)}): ${(err as Error).message}`,
      );
    }
    return r.stdout.trim();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
