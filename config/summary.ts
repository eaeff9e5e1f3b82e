// One screen describing a valid config: what `rekey config check` prints.
import { parseSshPublicKey, sshFingerprint } from '../shared/sshsig';
import { kindOf } from '../stores/kinds';
import { gatePolicy } from './approvals';
import { keyGroupOf } from './key-groups';
import type { Config } from './schema';

/** What a valid config describes, as data: `config check --json` prints it, and the text summary
 * is written from it. */
export function configFacts(cfg: Config) {
  const environments = Object.entries(cfg.environments).map(([name, env]) => {
    const store = cfg.stores[env.store];
    const host = cfg.hosts[env.host];
    const policy = gatePolicy(cfg, [name]);
    return {
      name,
      keyGroup: keyGroupOf(cfg, name),
      store: env.store,
      storeWhere: store ? kindOf(store).describe(store) : 'unknown',
      host: env.host,
      hostWhere: host?.type === 'ssh' ? `${host.user}@${host.address}:${host.port}` : 'this machine',
      approval: cfg.approvals.requiredFor.includes(name)
        ? {
            mode: policy.mode,
            required: policy.required,
            approvers: Object.keys(policy.approvers).length,
            separateFromStarter: policy.separateFromStarter,
          }
        : null,
    };
  });
  return {
    environments,
    keyGroups: cfg.keyGroups,
    secretNames: cfg.secretNames,
    keyFiles: {
      keyDir: cfg.paths.keyDir,
      privateKeyFile: cfg.paths.privateKeyFile,
      publicKeyFile: cfg.paths.publicKeyFile,
      mountTarget: cfg.paths.mountTarget,
    },
    approvers: Object.entries(cfg.approvals.approvers).map(([name, key]) => ({
      name,
      fingerprint: key ? sshFingerprint(parseSshPublicKey(key)) : null,
    })),
    secretRecipes: Object.entries(cfg.secrets).map(([name, r]) => ({
      name,
      environments: r.environments,
      locations: r.locations.length,
      strategy: r.strategy,
      ...(r.rotateEvery ? { rotateEvery: r.rotateEvery } : {}),
    })),
    warnings: placeholders(cfg),
  };
}

export function summarize(cfg: Config): string {
  const facts = configFacts(cfg);
  const lines = ['environments:'];
  for (const e of facts.environments) {
    const gate = e.approval
      ? `, approval required (${e.approval.mode}, ${e.approval.required} of ${e.approval.approvers}${e.approval.separateFromStarter ? ', not the starter' : ''})`
      : '';
    lines.push(
      `  ${e.name}: key group ${e.keyGroup}, store ${e.store} (${e.storeWhere}), host ${e.host} (${e.hostWhere})${gate}`,
    );
  }
  lines.push('key groups:');
  for (const [group, envs] of Object.entries(facts.keyGroups)) {
    lines.push(`  ${group}: ${envs.join(', ')}${envs.length > 1 ? ' (one shared pair)' : ''}`);
  }
  lines.push(`secrets: ${facts.secretNames.privateKey}, ${facts.secretNames.publicKey}`);
  const k = facts.keyFiles;
  lines.push(`key files: ${k.keyDir}/{${k.privateKeyFile},${k.publicKeyFile}} -> ${k.mountTarget}`);
  const approvers = facts.approvers.map((a) => `${a.name}${a.fingerprint ? ` (${a.fingerprint})` : ''}`);
  lines.push(`approvers: ${approvers.join(', ') || 'none'}`);
  const recipes = facts.secretRecipes.map(
    (r) =>
      `  ${r.name}: ${r.environments.join(', ')}; ${r.locations} location(s), ${r.strategy}${r.rotateEvery ? `, every ${r.rotateEvery}` : ''}`,
  );
  lines.push(recipes.length ? `secret recipes:\n${recipes.join('\n')}` : 'secret recipes: none');
  for (const w of facts.warnings) lines.push(`warning: ${w}`);
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
