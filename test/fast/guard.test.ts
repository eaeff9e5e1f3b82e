// The activities' own approval check (worker/guard.ts): every activity is listed as a change or a
// read; a change of a gated environment needs the approvals of the run that scheduled it, signed
// over that run's gate digest by configured approvers, a quorum of them, and a plan made from the
// environment's configuration as it is now.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createCodecKeyActivities } from '../../activities/codec-key';
import { createEnvironmentLockActivities } from '../../activities/environment-lock';
import { createNotifyActivities } from '../../activities/notify';
import { createPromoteHopActivities } from '../../activities/promote-hop';
import { createRolloverActivities } from '../../activities/rollover';
import { createRotateActivities } from '../../activities/rotate';
import { createRotateSecretActivities } from '../../activities/rotate-secret';
import { createRotateSecretsActivities } from '../../activities/rotate-secrets';
import { createScheduleActivities } from '../../activities/schedules';
import { createStarterConfigActivities } from '../../activities/starter-config';
import { scopeOf } from '../../config/approvals';
import { parseConfig } from '../../config/load';
import { type ApprovalProof, gateDigest } from '../../shared/approval-proof';
import { lockHolderOf } from '../../shared/lock-holder';
import { ACTIVITY_KINDS, checkApproval, guarded } from '../../worker/guard';
import { approversConfig, sign } from '../infra/approvers';

describe('activities check their approval', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-guard-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const doc = (over: Record<string, unknown> = {}) => ({
    stores: { files: { type: 'file', dir: join(dir, 'store') } },
    hosts: Object.fromEntries(
      ['prod', 'dev'].map((e) => [e, { type: 'local', appDir: join(dir, e), dataDir: join(dir, e, 'd') }]),
    ),
    services: { none: { driver: 'command', start: 'true', stop: 'true', restart: 'true', logs: 'true' } },
    environments: {
      prod: { store: 'files', host: 'prod', service: 'none', approvals: { required: 2 } },
      dev: { store: 'files', host: 'dev', service: 'none' },
      // Ungated, but on prod's host: what changes it changes prod's host.
      side: { store: 'files', host: 'prod', service: 'none' },
    },
    keyGroups: { prod: ['prod'], dev: ['dev'], side: ['side'] },
    secretNames: { privateKey: 'jwt-{group}-private', publicKey: 'jwt-{group}-public' },
    approvals: { requiredFor: ['prod'], approvers: approversConfig(), mode: 'signed' },
    ...over,
  });
  const config = parseConfig(doc(), join(dir, 'rekey.yaml'));
  const run = { workflowId: 'rotate-jwt/prod', runId: 'run-1', workflowType: 'rotateJwtKeys' };
  const proof = (
    by: ('alice' | 'bob' | 'carol')[],
    over: Partial<ApprovalProof> = {},
    signedFor = run,
  ): ApprovalProof => {
    const base = { gate: 'approval', ordinal: 1, plan: 'prod: new pair', scope: scopeOf(config, ['prod']) };
    const digest = gateDigest(signedFor, base.gate, base.ordinal, base.plan, over.scope ?? base.scope);
    return {
      ...base,
      approvals: by.map((b) => ({ by: b, signature: sign(b, `approve ${digest}`) })),
      ...over,
    };
  };
  const refused = (fn: () => void, message: RegExp) =>
    assert.throws(fn, (err: Error & { type?: string }) => {
      assert.equal(err.type, 'PolicyViolation');
      assert.match(err.message, message);
      assert.match(err.message, /nothing was changed/);
      return true;
    });

  it('lists every activity of the worker as a change or a read, and refuses one it does not know', () => {
    const store = () => {
      throw new Error('not used');
    };
    const names = Object.keys({
      ...createRotateActivities({ config, store }),
      ...createRolloverActivities({ config, store }),
      ...createCodecKeyActivities({ config, store }),
      ...createRotateSecretActivities({ config, store }),
      ...createRotateSecretsActivities({ config, store }),
      ...createPromoteHopActivities({ config }),
      ...createEnvironmentLockActivities(),
      ...createScheduleActivities(),
      ...createStarterConfigActivities({ config, identity: 'test' }),
      ...createNotifyActivities({ config }),
    }).sort();
    assert.deepEqual(names, [...ACTIVITY_KINDS.changes, ...ACTIVITY_KINDS.reads].sort());
    assert.throws(
      () => guarded(config, { wipeEverything: async () => undefined }),
      /activity wipeEverything is neither a read nor a change in worker\/guard\.ts/,
    );
  });

  it('a gated environment needs a quorum of signatures over this run’s gate; an ungated one nothing', () => {
    checkApproval(config, 'installKeyFiles', ['dev'], undefined, run);
    refused(
      () => checkApproval(config, 'installKeyFiles', ['prod'], undefined, run),
      /installKeyFiles changes prod, which requires approval, but was given none.*rotateJwtKeys rotate-jwt\/prod/,
    );
    checkApproval(config, 'installKeyFiles', ['prod'], proof(['alice', 'bob']), run);
    refused(
      () => checkApproval(config, 'installKeyFiles', ['prod', 'dev'], proof(['alice']), run),
      /1 valid approval\(s\) of 2 needed/,
    );
    refused(
      () => checkApproval(config, 'installKeyFiles', ['prod'], proof(['alice', 'alice' as 'bob']), run),
      /1 valid approval\(s\) of 2 needed/,
    );
    // The same decisions handed to another run (copied from this one's history).
    refused(
      () =>
        checkApproval(config, 'restoreHost', ['prod'], proof(['alice', 'bob']), {
          ...run,
          runId: 'run-2',
        }),
      /restoreHost on prod: the approval it was given is not one for this run: 0 valid approval\(s\) of 2 needed \(alice's signature: the signature does not match/,
    );
    // Another plan than the one signed, a name that is no approver, a signature by another key.
    refused(
      () =>
        checkApproval(
          config,
          'x',
          ['prod'],
          { ...proof(['alice', 'bob']), plan: 'prod: something else' },
          run,
        ),
      /0 valid approval/,
    );
    const p = proof(['alice', 'bob']);
    refused(
      () =>
        checkApproval(
          config,
          'x',
          ['prod'],
          {
            ...p,
            approvals: [
              { by: 'mallory', signature: 'x' },
              { by: 'alice', signature: p.approvals[1]?.signature },
            ],
          },
          run,
        ),
      /"mallory" is not an approver; alice's signature: signed by another key/,
    );
    refused(() => checkApproval(config, 'x', ['prod'], { junk: true } as never, run), /it is malformed/);
    // Signed for dev's plan, presented for prod's: the scope is part of what was signed.
    const forDev = proof(['alice', 'bob'], { scope: scopeOf(config, ['dev']) });
    refused(
      () => checkApproval(config, 'x', ['prod'], { ...forDev, scope: scopeOf(config, ['prod']) }, run),
      /0 valid approval/,
    );
    refused(() => checkApproval(config, 'x', ['prod'], forDev, run), /the approved plan does not cover prod/);
    // An environment on a gated one's host needs that one's approval.
    refused(
      () => checkApproval(config, 'installKeyFiles', ['side'], undefined, run),
      /installKeyFiles changes prod, which requires approval, but was given none/,
    );
  });

  it('an environment whose key pair is a gated one’s (same store, same secret) needs its approval', () => {
    const base = doc();
    const shared = parseConfig(
      doc({
        environments: { ...base.environments, twin: { store: 'files', host: 'dev', service: 'none' } },
        keyGroups: { prod: ['prod', 'twin'], dev: ['dev'], side: ['side'] },
      }),
      join(dir, 'rekey.yaml'),
    );
    refused(
      () => checkApproval(shared, 'installKeyFiles', ['twin'], undefined, run),
      /installKeyFiles changes prod, which requires approval, but was given none/,
    );
    // dev has a host and a key of its own.
    checkApproval(shared, 'installKeyFiles', ['dev'], undefined, run);
  });

  it('named gates count names; a plan made from another configuration of the environment is refused', () => {
    const named = parseConfig(
      doc({
        environments: {
          prod: { store: 'files', host: 'prod', service: 'none' },
          dev: { store: 'files', host: 'dev', service: 'none' },
          side: { store: 'files', host: 'prod', service: 'none' },
        },
        approvals: { requiredFor: ['prod'], approvers: ['alice', 'bob'], mode: 'named' },
      }),
      join(dir, 'rekey.yaml'),
    );
    const scope = scopeOf(named, ['prod']);
    checkApproval(named, 'x', ['prod'], { ...proof([]), scope, approvals: [{ by: 'bob' }] }, run);
    refused(
      () => checkApproval(named, 'x', ['prod'], { ...proof([]), scope, approvals: [{ by: 'mallory' }] }, run),
      /0 valid approval\(s\) of 1 needed \("mallory" is not an approver\)/,
    );
    // The worker's rekey.yaml now points prod at another host than the approved plan's.
    const moved = parseConfig(
      doc({
        environments: {
          prod: { store: 'files', host: 'dev', service: 'none', approvals: { required: 2 } },
          dev: { store: 'files', host: 'dev', service: 'none' },
          side: { store: 'files', host: 'prod', service: 'none' },
        },
      }),
      join(dir, 'rekey.yaml'),
    );
    refused(
      () => checkApproval(moved, 'syncData', ['prod'], proof(['alice', 'bob']), run),
      /syncData: the configuration of prod \(its store, host, service or paths\) changed since the plan was approved/,
    );
    refused(
      () => checkApproval(config, 'syncData', ['prod'], proof(['alice', 'bob'], { scope: {} }), run),
      /syncData: the approved plan does not cover prod/,
    );
    // Putting things back and starting the service again still run under the changed config (a
    // stopped or half-changed prod is worse), with the approval checked all the same.
    for (const undo of ['restoreHost', 'restartAndVerify', 'restoreSnapshot'])
      checkApproval(moved, undo, ['prod'], proof(['alice', 'bob']), run);
    refused(
      () => checkApproval(moved, 'restoreHost', ['prod'], proof(['alice']), run),
      /1 valid approval\(s\) of 2 needed/,
    );
  });

  it('verifies at most one approval per configured approver: a longer list is refused unread', () => {
    const p = proof(['alice', 'bob']);
    const padded = [...p.approvals, { by: 'carol', signature: 'x' }, { by: 'carol', signature: 'y' }];
    refused(() => checkApproval(config, 'x', ['prod'], { ...p, approvals: padded }, run), /it is malformed/);
  });

  it('a lock naming no run is held by nobody, and an activity no run scheduled holds no lock', async () => {
    // Memos of locks as takeLocks writes them, and what an activity without a run would write.
    assert.deepEqual(lockHolderOf({ memo: { holder: 'rotate-jwt/prod', holderRunId: 'r1' } }), {
      workflowId: 'rotate-jwt/prod',
      runId: 'r1',
    });
    for (const memo of [{ holder: '', holderRunId: '' }, { holder: 'rotate-jwt/prod', holderRunId: '' }, {}])
      assert.equal(lockHolderOf({ memo }), undefined, JSON.stringify(memo));
    // The parent of a lock child (runs from before locks were started by an activity) comes first.
    assert.deepEqual(
      lockHolderOf({
        parentExecution: { workflowId: 'p', runId: 'r' },
        memo: { holder: 'm', holderRunId: 'n' },
      }),
      { workflowId: 'p', runId: 'r' },
    );
    // A changing activity no run scheduled is refused before any approval or lock is read.
    const changes = guarded(config, { syncData: async () => 'changed' });
    for (const workflowExecution of [
      { workflowId: '', runId: '' },
      { workflowId: 'rotate-jwt/prod', runId: '' },
    ])
      await assert.rejects(
        new MockActivityEnvironment({ workflowExecution }).run(changes.syncData, {
          from: 'dev',
          to: 'prod',
        } as never),
        /syncData: no workflow run scheduled it; nothing was changed/,
      );
  });
});
