// The plan of a JWT key rotation, read before any change: each environment's current pair and host
// key file, its service's checks, its publisher token's identity (and whether rekey may re-sign
// it), and the gate; the key groups that move together.
import { gatedOf, gatePolicy, scopeOf } from '../config/approvals';
import { keyGroupOf } from '../config/key-groups';
import type { Config } from '../config/schema';
import { durationMs, serviceProblems } from '../services/service';
import type { GatePolicy } from '../shared/approval-proof';
import { FailureType, fail } from '../shared/failures';
import { readKeyPair } from '../stores/pairs';
import type { CurrentPair, EnvironmentKeys, RotationDeps } from './environment-keys';
import {
  isExternalIssuer,
  readTokenFromToml,
  refuseExpired,
  signedByAny,
  type TokenIdentity,
  tokenIdentity,
} from './tokens';

export interface EnvPlan {
  env: string;
  group: string;
  store: string;
  host: string;
  /** Versions current when the run was planned: what a rollback makes current again. */
  current: CurrentPair;
  /** Fingerprint of the public key file installed on the host, if any. */
  hostFingerprint: string | null;
  /** Identity of the cached publisher token, when a token is present. */
  token: TokenIdentity | null;
  /** The token was issued by another issuer (an OIDC provider, `iss` an https URL) and not signed
   * by the host's key: the rotation does not affect it and leaves it alone. */
  tokenExternal?: boolean;
  /** Whether the config requires an approval before changing this environment. */
  approvalRequired: boolean;
}

export interface RotationPlan {
  environments: EnvPlan[];
  /** Key group -> environments rotated together (a group is never split). */
  groups: Record<string, string[]>;
  /** Environments added because they share a key group with a requested one. */
  added: string[];
  /** Names of the approvers (read by runs recorded before gates took `approval`). */
  approvers: string[];
  approvalTimeoutMs: number;
  /** Who decides the gate, and how, for these environments. */
  approval: GatePolicy;
  /** What the plan was made from, per environment (absent from plans of an older rekey). */
  scope?: Record<string, string>;
  /** What a run keeps of old keys once it passed (config retention). */
  retention?: { backups: number; versions: number };
}

export interface PlanInput {
  environments: string[];
  preserveToken: boolean;
  /** keys install: the store's current pair goes on the host, which may have no key files. */
  installOnly?: boolean;
}

export async function planRotation(
  config: Config,
  deps: RotationDeps,
  { paths, names, envConfig, onHost, keyFile, cliToml, currentPair, hostFingerprint }: EnvironmentKeys,
  input: PlanInput,
): Promise<RotationPlan> {
  const groups: Record<string, string[]> = {};
  for (const env of input.environments) {
    envConfig(env);
    const group = keyGroupOf(config, env);
    groups[group] = config.keyGroups[group] ?? [env];
  }
  const all = Object.values(groups).flat();
  const plans = await Promise.all(
    all.map(async (env): Promise<EnvPlan> => {
      const e = envConfig(env);
      const current = await currentPair(env);
      const { fp, token, tokenExternal } = await onHost(env, async (h) => {
        // What the run will start must be there before anything is written.
        const problems = await serviceProblems(h, e.serviceConfig);
        if (problems.length > 0)
          throw fail(FailureType.BadInput, `${env}: ${problems.join('; ')}; nothing was changed`);
        const fp = await hostFingerprint(h);
        let token: TokenIdentity | null = null;
        let tokenExternal = false;
        const where = `${env}: ${cliToml(h)}`;
        const text = await h.readFile(cliToml(h));
        if (!text && input.preserveToken && !input.installOnly) {
          throw fail(
            FailureType.BadInput,
            `${where}: missing; a token can't be preserved (use --clean-slate to rotate into a new identity)`,
          );
        }
        const raw = text
          ? readTokenFromToml(text.toString(), paths.tokenField, where, !input.preserveToken)
          : '';
        if (raw) {
          token = tokenIdentity(raw, where);
          // Re-signing must not launder a token the host's own key never signed, and with no
          // key file there is nothing to tell: refused here, before anything changes.
          let pub = await h.readFile(keyFile(h, paths.publicKeyFile));
          // keys install: the token may be the host's key's or the store's (a rebuilt VM has no
          // key files; a drifted host has other ones).
          if (input.installOnly && current) {
            const stored = (await readKeyPair(deps.store(e.store), names(env))).publicPem;
            if (!pub || !(await signedByAny(raw, [pub.toString()]))) pub = Buffer.from(stored);
          }
          if (pub && !(await signedByAny(raw, [pub.toString()])) && isExternalIssuer(token.iss)) {
            // OIDC-backed identity: the provider signed it; this rotation is not its concern.
            tokenExternal = true;
          } else if (input.preserveToken) {
            if (!pub) {
              throw fail(
                FailureType.BadInput,
                `${where}: the host has no public key file (${keyFile(h, paths.publicKeyFile)}), so rekey cannot tell whether the service's key signed the token, and will not re-sign it: put the key pair the service runs with there first (or rotate with --clean-slate); nothing was changed`,
              );
            }
            if (!(await signedByAny(raw, [pub.toString()]))) {
              throw fail(
                FailureType.BadInput,
                `${where}: the token is not signed by ${input.installOnly ? `the host's key nor the key in store ${e.store}` : `the host's current key (${keyFile(h, paths.publicKeyFile)})`}, nor issued by an OIDC provider (iss ${token.iss} is not an https URL); refusing to re-sign it; nothing was changed`,
              );
            }
            refuseExpired(raw, where);
          }
        }
        return { fp, token, tokenExternal };
      });
      return {
        env,
        group: keyGroupOf(config, env),
        store: e.store,
        host: e.host,
        current,
        hostFingerprint: fp,
        token,
        ...(tokenExternal ? { tokenExternal } : {}),
        approvalRequired: gatedOf(config, [env]).length > 0,
      };
    }),
  );
  return {
    environments: plans,
    groups,
    added: all.filter((env) => !input.environments.includes(env)),
    approvers: Object.keys(config.approvals.approvers),
    approvalTimeoutMs: durationMs(config.approvals.timeout),
    // The gate's policy comes from the environments that require it.
    approval: gatePolicy(config, gatedOf(config, all)),
    scope: scopeOf(config, all),
    retention: config.retention,
  };
}
