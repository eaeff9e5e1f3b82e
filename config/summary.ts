// One screen describing a valid config: what `rekey config check` prints.
import { parseSshPublicKey, sshFingerprint } from '../shared/sshsig';
import { gatePolicy } from './approvals';
import { keyGroupOf } from './key-groups';
import type { Config } from './schema';

export function summarize(cfg: Config): string {
  const lines = ['environments:'];
  for (const [name, env] of Object.entries(cfg.environments)) {
    const store = cfg.stores[env.store];
    const host = cfg.hosts[env.host];
    const where =
      store?.type === 'azure-keyvault'
        ? store.vaultUrl
        : store?.type === 'aws-ssm'
          ? `SSM ${store.region}`
          : store?.type === 'file'
            ? `file ${store.dir}`
            : `${store?.type} (write-only)`;
    const on = host?.type === 'ssh' ? `${host.user}@${host.address}:${host.port}` : 'this machine';
    const policy = gatePolicy(cfg, [name]);
    const gate = cfg.approvals.requiredFor.includes(name)
      ? `, approval required (${policy.mode}, ${policy.required} of ${Object.keys(policy.approvers).length}${policy.separateFromStarter ? ', not the starter' : ''})`
      : '';
    lines.push(
      `  ${name}: key group ${keyGroupOf(cfg, name)}, store ${env.store} (${where}), host ${env.host} (${on})${gate}`,
    );
  }
  lines.push('key groups:');
  for (const [group, envs] of Object.entries(cfg.keyGroups)) {
    lines.push(`  ${group}: ${envs.join(', ')}${envs.length > 1 ? ' (one shared pair)' : ''}`);
  }
  lines.push(`secrets: ${cfg.secretNames.privateKey}, ${cfg.secretNames.publicKey}`);
  lines.push(
    `key files: ${cfg.paths.keyDir}/{${cfg.paths.privateKeyFile},${cfg.paths.publicKeyFile}} -> ${cfg.paths.mountTarget}`,
  );
  const approvers = Object.entries(cfg.approvals.approvers).map(
    ([n, key]) => `${n}${key ? ` (${sshFingerprint(parseSshPublicKey(key))})` : ''}`,
  );
  lines.push(`approvers: ${approvers.join(', ') || 'none'}`);
  return lines.join('\n');
}
