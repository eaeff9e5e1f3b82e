// The fast tier's rotation of one environment (prod, on vm-prod) against mocked activities: a plan,
// a staged pair, and activities that succeed and record their calls.
import type { StagedGroup } from '../../activities/rotate';
import type { RotationPlan } from '../../activities/rotate-plan';
import type { GatePolicy } from '../../shared/approval-proof';
import { publicKey } from '../infra/approvers';
import { recording } from './harness';

const policy = (): GatePolicy => ({
  mode: 'signed',
  approvers: { alice: publicKey('alice') },
  required: 1,
  separateFromStarter: false,
  timeoutMs: 3600_000,
});

export function plan(approval: boolean): RotationPlan {
  return {
    environments: [
      {
        env: 'prod',
        group: 'prod',
        store: 'kv-prod',
        host: 'vm-prod',
        current: { privateKeyVersion: 'v1', publicKeyVersion: 'v1', fingerprint: 'a'.repeat(64) },
        hostFingerprint: 'a'.repeat(64),
        token: { iss: 'localhost', sub: 'publisher' },
        approvalRequired: approval,
      },
    ],
    groups: { prod: ['prod'] },
    added: [],
    approvers: ['alice'],
    approvalTimeoutMs: 3600_000,
    approval: policy(),
  } as unknown as RotationPlan;
}

/** Activities that record their calls; `overrides` replace some of them. */
export function mocks(
  approval: boolean,
  overrides: Record<string, (...args: never[]) => Promise<unknown>> = {},
) {
  const staged: StagedGroup = {
    group: 'prod',
    fingerprint: 'b'.repeat(64),
    kid: 'kid-b',
    refs: { prod: { privateKeyRef: 'v2', publicKeyRef: 'v2', fingerprint: 'b'.repeat(64) } },
  } as unknown as StagedGroup;
  const base: Record<string, (...args: never[]) => Promise<unknown>> = {
    rotationScope: async () => ['prod'],
    planRotation: async () => plan(approval),
    stageKeyPair: async () => staged,
    verifyKeys: async () => ({ rows: [], problems: [], ok: true }),
    installKeyFiles: async () => ({}),
    resignPublisherToken: async () => ({ after: { iss: 'localhost', sub: 'publisher' } }),
    restartAndVerify: async () => ({ marker: 'PUBLISH_SUCCESS' }),
    restoreSecrets: async () => ({ store: 'kv-prod' }),
    restoreHost: async () => ({ restored: ['key files', 'token'] }),
    lockHolder: async () => null,
    ...overrides,
  };
  return recording(base);
}
