// What a run hands its destructive activities once its gate has passed, and how an activity checks
// it on its own: the gate's digest rebuilt from the run the server says scheduled the activity,
// the plan shown and the gate's name and place, then every approver's signature over it verified
// against the configured keys. A workflow that is not that approved run (another task queue,
// decisions copied from a real run's history) cannot produce one. No Node imports: the workflow
// bundle builds the digest with the same function.
import { APPROVAL_NAMESPACE, canonicalJson, digestOf, parseSshPublicKey, verifySshSignature } from './sshsig';

/** A gate's approval policy (config/approvals.ts makes it from rekey.yaml). */
export interface GatePolicy {
  mode: 'signed' | 'named';
  /** Approver -> SSH public key line (null only in named mode). */
  approvers: Record<string, string | null>;
  /** Distinct approvers needed to pass. */
  required: number;
  /** The run's starter cannot be one of them. */
  separateFromStarter: boolean;
  timeoutMs: number;
}

export interface ApprovalProof {
  /** The gate's name and its place among the run's gates. */
  gate: string;
  ordinal: number;
  /** The plan as the approvers were shown it. */
  plan: string;
  /** What the plan was made from: a fingerprint of each environment's configuration (see
   * `environmentFingerprint`), so a step refuses an environment whose configuration changed since. */
  scope: Record<string, string>;
  /** The accepted approvals, each with its signature on signed gates. */
  approvals: { by: string; signature?: string }[];
}

/** The input field of every activity that changes an environment. */
export interface Approved {
  approval?: ApprovalProof;
}

/** The digest an approver signs at a gate: the run (a reset run or another run with the same plan
 * needs a decision of its own), the gate and its place, the plan's text as shown, and the
 * environments it changes with their configuration's fingerprints (so an approval of one
 * environment's plan cannot be presented for another's). */
export function gateDigest(
  run: { workflowId: string; runId: string },
  gate: string,
  ordinal: number,
  plan: string,
  scope: Record<string, string> = {},
): string {
  const parts = [run.workflowId, run.runId, gate, String(ordinal), plan];
  return digestOf(Object.keys(scope).length > 0 ? [...parts, canonicalJson(scope)] : parts);
}

/**
 * Why `proof` does not approve changes under `policy` for the run `run`, or undefined when it
 * does: a quorum of distinct configured approvers, each (on signed gates) with a signature over
 * "approve <digest>" by their configured key.
 */
export function approvalProblem(
  policy: GatePolicy,
  proof: ApprovalProof,
  run: { workflowId: string; runId: string },
): string | undefined {
  const scope = proof.scope;
  if (
    typeof proof.gate !== 'string' ||
    typeof proof.plan !== 'string' ||
    !Number.isSafeInteger(proof.ordinal) ||
    typeof scope !== 'object' ||
    scope === null ||
    Object.values(scope).some((v) => typeof v !== 'string') ||
    !Array.isArray(proof.approvals) ||
    // One per approver at most: a long list is not worth verifying.
    proof.approvals.length > Object.keys(policy.approvers).length
  )
    return 'it is malformed';
  const digest = gateDigest(run, proof.gate, proof.ordinal, proof.plan, scope);
  const valid = new Set<string>();
  const problems: string[] = [];
  for (const a of proof.approvals) {
    const by = typeof a?.by === 'string' ? a.by : '';
    if (valid.has(by)) continue;
    if (!Object.hasOwn(policy.approvers, by)) {
      problems.push(`"${by}" is not an approver`);
      continue;
    }
    if (policy.mode === 'signed') {
      const key = policy.approvers[by];
      try {
        if (!key || typeof a.signature !== 'string') throw new Error('no signature');
        verifySshSignature(a.signature, parseSshPublicKey(key), APPROVAL_NAMESPACE, `approve ${digest}`);
      } catch (err) {
        problems.push(`${by}'s signature: ${(err as Error).message}`);
        continue;
      }
    }
    valid.add(by);
  }
  if (valid.size >= policy.required) return undefined;
  return `${valid.size} valid approval(s) of ${policy.required} needed${problems.length ? ` (${problems.join('; ')})` : ''}`;
}
