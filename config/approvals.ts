// Who may decide a gate, and how, for the environments a run changes.
import { parseDuration } from './duration';
import type { Config } from './schema';

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

/** The strictest policy of `environments` (signed over named, the largest quorum); the config's
 * defaults for a gate that changes no environment (a keyring). */
export function gatePolicy(config: Config, environments: string[]): GatePolicy {
  const own = environments.map((e) => config.environments[e]?.approvals);
  const modes = own.map((a) => a?.mode ?? config.approvals.mode);
  return {
    mode: modes.length === 0 ? config.approvals.mode : modes.includes('signed') ? 'signed' : 'named',
    approvers: config.approvals.approvers,
    required: Math.max(1, ...own.map((a) => a?.required ?? 1)),
    separateFromStarter: own.some((a) => a?.separateFromStarter === true),
    timeoutMs: parseDuration(config.approvals.timeout),
  };
}
