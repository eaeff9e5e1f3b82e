// The checks of rekey.yaml that span its sections: every name an entry refers to exists, each
// environment is in exactly one key group, and the approval rules can be met and mean something.
import { parseSshPublicKey, sshFingerprint } from '../shared/sshsig';
import { isWriteOnly, secretPlace } from '../stores/kinds';
import { checkFreezes } from './freezes';
import { checkNotify } from './notify';
import type { Config } from './schema';
import { checkSecrets } from './secret-checks';
import { didYouMean } from './suggest';

/** Reports one problem at `path` (the config's keys and indexes down to the field). */
export type Issue = (path: (string | number)[], message: string) => void;

export function crossCheck(cfg: Config, issue: Issue): void {
  checkEnvironments(cfg, issue);
  checkKeyGroups(cfg, issue);
  checkKeyrings(cfg, issue);
  checkApprovers(cfg, issue);
  checkEnvironmentApprovals(cfg, issue);
  checkSecrets(cfg, issue);
  checkNotify(cfg.notify, Object.keys(cfg.environments), Object.keys(cfg.approvals.approvers), issue);
  checkFreezes(cfg.freezes, Object.keys(cfg.environments), issue);
  // A database reached through a host: one of hosts:.
  for (const [name, store] of Object.entries(cfg.stores))
    if (store.type === 'postgres' && store.through && !(store.through.host in cfg.hosts))
      issue(
        ['stores', name, 'through', 'host'],
        `unknown host "${store.through.host}"${didYouMean(store.through.host, Object.keys(cfg.hosts))}`,
      );
  if (cfg.codec && 'store' in cfg.codec) {
    if (!(cfg.codec.store in cfg.stores))
      issue(
        ['codec', 'store'],
        `unknown store "${cfg.codec.store}"${didYouMean(cfg.codec.store, Object.keys(cfg.stores))}`,
      );
    else if (isWriteOnly(cfg.stores[cfg.codec.store]))
      issue(['codec', 'store'], writeOnly(cfg, cfg.codec.store));
  }
}

/** Why a write-only store cannot hold what rekey must read back. */
const writeOnly = (cfg: Config, store: string) =>
  `store "${store}" is write-only (${cfg.stores[store]?.type}): rekey cannot read a value back from it`;

function checkEnvironments(cfg: Config, issue: Issue) {
  const refs = [
    ['store', cfg.stores],
    ['host', cfg.hosts],
    ['service', cfg.services],
  ] as const;
  for (const [envName, env] of Object.entries(cfg.environments)) {
    for (const [field, table] of refs) {
      if (!(env[field] in table))
        issue(
          ['environments', envName, field],
          `unknown ${field} "${env[field]}"${didYouMean(env[field], Object.keys(table))}`,
        );
    }
  }
}

function checkKeyGroups(cfg: Config, issue: Issue) {
  const groupOf = new Map<string, string>();
  for (const [group, envs] of Object.entries(cfg.keyGroups)) {
    envs.forEach((envName, i) => {
      if (!(envName in cfg.environments))
        issue(
          ['keyGroups', group, i],
          `unknown environment "${envName}"${didYouMean(envName, Object.keys(cfg.environments))}`,
        );
      const other = groupOf.get(envName);
      if (other)
        issue(['keyGroups', group, i], `environment "${envName}" is already in key group "${other}"`);
      groupOf.set(envName, group);
    });
  }
  for (const envName of Object.keys(cfg.environments)) {
    if (!groupOf.has(envName))
      issue(['environments', envName], `environment "${envName}" is in no key group`);
  }
}

function checkKeyrings(cfg: Config, issue: Issue) {
  for (const [ringName, ring] of Object.entries(cfg.keyrings)) {
    if (ring.replicas.length > 1 && ring.maxUnavailable >= ring.replicas.length) {
      issue(
        ['keyrings', ringName, 'maxUnavailable'],
        `${ring.maxUnavailable} of ${ring.replicas.length} replicas at once would take the whole service down: use fewer`,
      );
    }
    if (!(ring.store in cfg.stores))
      issue(
        ['keyrings', ringName, 'store'],
        `unknown store "${ring.store}"${didYouMean(ring.store, Object.keys(cfg.stores))}`,
      );
    else if (isWriteOnly(cfg.stores[ring.store]))
      issue(['keyrings', ringName, 'store'], writeOnly(cfg, ring.store));
    const kube = ring.kubernetes;
    if (!kube && !ring.replicas.length)
      issue(['keyrings', ringName], 'where is it installed? replicas: (hosts) or kubernetes: (a Secret)');
    if (kube && ring.replicas.length)
      issue(['keyrings', ringName, 'kubernetes'], 'either replicas: or kubernetes:, not both');
    if (kube && cfg.stores[kube.store]?.type !== 'kubernetes')
      issue(['keyrings', ringName, 'kubernetes', 'store'], `"${kube.store}" is not a kubernetes store`);
    ring.replicas.forEach((r, i) => {
      for (const [field, table] of [
        ['host', cfg.hosts],
        ['service', cfg.services],
      ] as const) {
        if (!(r[field] in table))
          issue(
            ['keyrings', ringName, 'replicas', i, field],
            `unknown ${field} "${r[field]}"${didYouMean(r[field], Object.keys(table))}`,
          );
      }
    });
  }
}

function checkApprovers(cfg: Config, issue: Issue) {
  cfg.approvals.requiredFor.forEach((envName, i) => {
    if (!(envName in cfg.environments))
      issue(
        ['approvals', 'requiredFor', i],
        `unknown environment "${envName}"${didYouMean(envName, Object.keys(cfg.environments))}`,
      );
  });
  const approvers = Object.entries(cfg.approvals.approvers);
  if (cfg.approvals.requiredFor.length > 0 && approvers.length === 0) {
    issue(
      ['approvals', 'approvers'],
      'approval is required for some environments but no approver is configured',
    );
  }
  const signedIn = [
    ...(cfg.approvals.mode === 'signed' ? ['approvals.mode'] : []),
    ...Object.entries(cfg.environments)
      .filter(([, e]) => (e.approvals?.mode ?? cfg.approvals.mode) === 'signed' && e.approvals?.mode)
      .map(([n]) => `environments.${n}.approvals.mode`),
  ];
  for (const [approver, key] of approvers) {
    if (key === null && signedIn.length > 0) {
      issue(
        ['approvals', 'approvers', approver],
        `no SSH public key for ${approver}, but decisions are signed (${signedIn[0]}): list approvers as NAME: "ssh-ed25519 AAAA...", or set approvals.mode: named`,
      );
    }
  }
  // One key, one person: two names with the same key would let one holder be a quorum of two.
  const byKey = new Map<string, string>();
  for (const [approver, key] of approvers) {
    if (key === null) continue;
    let blob: string;
    try {
      blob = sshFingerprint(parseSshPublicKey(key));
    } catch {
      continue; // reported by the key's own check
    }
    const other = byKey.get(blob);
    if (other)
      issue(
        ['approvals', 'approvers', approver],
        `the same key as ${other}: each approver needs a key of their own`,
      );
    byKey.set(blob, approver);
  }
}

function checkEnvironmentApprovals(cfg: Config, issue: Issue) {
  const approvers = Object.keys(cfg.approvals.approvers).length;
  for (const [envName, env] of Object.entries(cfg.environments)) {
    if (!env.approvals) continue;
    const path = ['environments', envName, 'approvals'];
    // Named gates take every name on trust: a quorum or a separate starter would mean nothing.
    if (
      (env.approvals.mode ?? cfg.approvals.mode) === 'named' &&
      (env.approvals.required > 1 || env.approvals.separateFromStarter)
    )
      issue(
        path,
        'required > 1 and separateFromStarter need signed approvals (mode: signed): named ones are taken on trust',
      );
    if (!cfg.approvals.requiredFor.includes(envName)) {
      // Rules for a gate that never opens would read as protection that is not there.
      issue(path, `${envName} has approval rules but no gate: add it to approvals.requiredFor`);
      continue;
    }
    // The starter of a run is one of the approvers, and may not approve it.
    const needed = env.approvals.required + (env.approvals.separateFromStarter ? 1 : 0);
    if (approvers > 0 && needed > 1 && needed > approvers) {
      issue(
        [...path, 'required'],
        `${env.approvals.required} distinct approvers${env.approvals.separateFromStarter ? ' besides the starter' : ''} required but ${approvers} configured`,
      );
    }
  }
}

/** With `{group}` in secretNames, each key group's pair has names of its own: in both names or in
 * neither, and no two groups' names the same place (Key Vault: one vault whatever store entry
 * names it, names without regard to case; `Prod` and `prod` collide). Without it, groups sharing
 * a store clash at once, which a rotation's check after staging refuses. */
export function checkPairPlaces(cfg: Config, issue: Issue) {
  const { privateKey, publicKey } = cfg.secretNames;
  if (privateKey.includes('{group}') !== publicKey.includes('{group}'))
    issue(
      ['secretNames'],
      '{group} in both names or in neither: a name without it is shared by every key group in a store',
    );
  if (!privateKey.includes('{group}')) return;
  const groupOf = new Map<string, string>();
  for (const [group, envs] of Object.entries(cfg.keyGroups))
    for (const env of envs) if (!groupOf.has(env)) groupOf.set(env, group);
  const placed = new Map<string, string>();
  for (const [envName, env] of Object.entries(cfg.environments)) {
    const group = groupOf.get(envName);
    if (group === undefined) continue;
    for (const template of [privateKey, publicKey]) {
      const name = template.replaceAll('{group}', group);
      const place = secretPlace(env.store, cfg.stores[env.store], name);
      const other = placed.get(place);
      if (other === undefined) placed.set(place, group);
      else if (other !== group) {
        issue(
          ['environments', envName, 'store'],
          `key group ${group}'s ${name} would be where key group ${other}'s is (store ${env.store}): give the groups names that differ in more than case, or different stores`,
        );
        break;
      }
    }
  }
}
