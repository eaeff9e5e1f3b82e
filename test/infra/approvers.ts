// Test approvers with real SSH keys (ssh-keygen -t ed25519), and decisions made the way
// `rekey approve` makes them: the gate's digest signed by ssh-keygen -Y sign, sent as an Update.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { decideGate } from '../../client/runs/gates';
import type { Config } from '../../config/schema';
import { errorText } from '../../workflows/errors';
import type { DecisionKind } from '../../workflows/messages';

export const APPROVER_NAMES = ['alice', 'bob', 'carol', 'mallory'] as const;
export type ApproverName = (typeof APPROVER_NAMES)[number];

let dir: string | undefined;

/** The private key file of a test approver (made once per process). */
export function keyFile(name: ApproverName): string {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'rekey-approvers-'));
    for (const n of APPROVER_NAMES)
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${n}@test`, '-f', join(dir, n)]);
  }
  return join(dir, name);
}

export function publicKey(name: ApproverName): string {
  return readFileSync(`${keyFile(name)}.pub`, 'utf8').trim();
}

/** approvals.approvers for a config: each name with its public key (mallory is never one). */
export function approversConfig(names: ApproverName[] = ['alice', 'bob', 'carol']): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, publicKey(n)]));
}

/** Decides the pending gate of `workflowId` (or its hop) as `by`, signed with by's own key. */
export function decide(
  client: Client,
  config: Config,
  workflowId: string,
  kind: DecisionKind,
  by: ApproverName,
  comment?: string,
) {
  return decideGate(client, config, workflowId, kind, {
    by,
    keyFile: keyFile(by),
    ...(comment ? { comment } : {}),
  });
}

/** `name`'s SSHSIG over `message`, made by ssh-keygen exactly as an approver would by hand. */
export function sign(name: ApproverName, message: string): string {
  return execFileSync('ssh-keygen', ['-Y', 'sign', '-n', 'rekey-approval', '-f', keyFile(name)], {
    input: message,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'ignore'],
  });
}

/** Asserts that a decision was refused, matching the validator's message (under Temporal's
 * "Workflow Update failed"). */
export async function assertRefused(decision: Promise<unknown>, message: RegExp): Promise<void> {
  const err = await decision.then(
    () => assert.fail(`the decision was expected to be refused (${message})`),
    (e: unknown) => e,
  );
  assert.match(errorText(err), message);
}
