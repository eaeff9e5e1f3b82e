// One screen describing a valid config: what `rekey config check` prints.
import { parseSshPublicKey, sshFingerprint } from '../shared/sshsig';
import { kindOf } from '../stores/kinds';
import { gatePolicy } from './approvals';
import { keyGroupOf } from './key-groups';
import type { Config } from './schema';

export function summarize(cfg: Config): string {
  const lines = ['environments:'];
  for (const [name, env] of Object.entries(cfg.environments)) {
    const store = cfg.stores[env.store];
    const host = cfg.hosts[env.host];
    const where = store ? kindOf(store).describe(store) : 'unknown';
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
  const recipes = Object.entries(cfg.secrets).map(
    ([n, r]) =>
      `  ${n}: ${r.environments.join(', ')}; ${r.locations.length} location(s), ${r.strategy}${r.rotateEvery ? `, every ${r.rotateEvery}` : ''}`,
  );
  lines.push(recipes.length ? `secret recipes:\n${recipes.join('\n')}` : 'secret recipes: none');
  for (const w of placeholders(cfg)) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

/** Values left from the shipped example that cannot be anyone's real ones: reserved example
 * domains (RFC 2606), and the example's approver keys. */
export function placeholders(cfg: Config, exampleKeys: string[] = EXAMPLE_APPROVER_KEYS): string[] {
  const out: string[] = [];
  const reserved = /(^|\.)example\.(com|net|org)$|\.(example|invalid|test)$/i;
  for (const [name, h] of Object.entries(cfg.hosts))
    if (h.type === 'ssh' && reserved.test(h.address))
      out.push(
        `hosts.${name}.address ${h.address} is a placeholder (a reserved example domain): set the VM's address`,
      );
  for (const [name, st] of Object.entries(cfg.stores))
    out.push(...(kindOf(st).placeholders?.(name, st) ?? []));
  for (const [name, key] of Object.entries(cfg.approvals.approvers))
    if (key && exampleKeys.some((k) => key.split(/\s+/)[1] === k))
      out.push(`approvals.approvers.${name} is the example's key: put that approver's own SSH public key`);
  return out;
}

/** The approver keys rekey.example.yaml ships with (nobody holds their private halves). */
const EXAMPLE_APPROVER_KEYS = [
  'AAAAC3NzaC1lZDI1NTE5AAAAICsD4I2QQ1tHToKVvdAvf/FCVYRWU4lGrBNS9MxHkaRh',
  'AAAAC3NzaC1lZDI1NTE5AAAAIFdTPUSgw9WTgVuuTUJgEAtANe6FagdLO/FWKZXMztal',
];
