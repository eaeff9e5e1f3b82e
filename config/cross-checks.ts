// The checks of rekey.yaml that span its sections: every name an entry refers to exists, each
// environment is in exactly one key group, and the approval rules can be met and mean something.
import { parseSshPublicKey, sshFingerprint } from '../shared/sshsig';
import { isWriteOnly, kindOf, secretPlace } from '../stores/kinds';
import { checkFreezes } from './freezes';
import { checkNotify } from './notify';
import type { Config } from './schema';
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
function checkPairPlaces(cfg: Config, issue: Issue) {
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

function checkSecrets(cfg: Config, issue: Issue) {
  for (const [envName, env] of Object.entries(cfg.environments)) {
    const store = cfg.stores[env.store];
    if (store && !kindOf(store).holdsKeyPairs)
      issue(
        ['environments', envName, 'store'],
        `store "${env.store}" is an ${store.type} store: it is for secret recipes (secrets:), not an environment's key pair (use an azure-keyvault or file store)`,
      );
  }
  checkPairPlaces(cfg, issue);
  // Each place a secret lives is one recipe's in one environment: a rotation locks its
  // environment, so two runs sharing a place could undo each other's value; and the places the
  // key pairs, keyrings and the codec keep theirs are not a recipe's.
  const owner = new Map<string, string>();
  for (const [envName, env] of Object.entries(cfg.environments))
    for (const name of [cfg.secretNames.privateKey, cfg.secretNames.publicKey]) {
      const group = Object.entries(cfg.keyGroups).find(([, envs]) => envs.includes(envName))?.[0] ?? '';
      owner.set(`${env.store}\0${name.replaceAll('{group}', group)}`, 'the JWT key pair');
    }
  // A keyring installed in a Kubernetes Secret owns its key.* and active keys.
  const kubeRing = new Map<string, string>();
  for (const [ring, k] of Object.entries(cfg.keyrings)) {
    owner.set(`${k.store}\0${k.secret}`, `keyring ${ring}`);
    if (!k.kubernetes) continue;
    const place = `${k.kubernetes.store}\0${k.kubernetes.secret}`;
    const other = kubeRing.get(place);
    if (other)
      issue(
        ['keyrings', ring, 'kubernetes', 'secret'],
        `Secret ${k.kubernetes.secret} already holds keyring ${other}: each keyring needs a Secret of its own`,
      );
    else kubeRing.set(place, ring);
  }
  if (cfg.codec && 'store' in cfg.codec)
    owner.set(`${cfg.codec.store}\0${cfg.codec.secret}`, 'the codec keyring');
  // A postgres store's admin password and role: rotating them as a recipe would lock rekey out.
  for (const [storeName, store] of Object.entries(cfg.stores))
    for (const { place, what } of kindOf(store).ownPlaces?.(storeName, store) ?? []) owner.set(place, what);
  for (const [secretName, recipe] of Object.entries(cfg.secrets)) {
    const at = (...path: (string | number)[]) => ['secrets', secretName, ...path];
    // An alternating recipe's two roles are places too, each environment's own.
    if (recipe.alternate) {
      const { store, users } = recipe.alternate;
      for (const envName of recipe.environments)
        for (const user of users) {
          const key = `${store}\0${user.replaceAll('{env}', envName)}`;
          const other = owner.get(key);
          if (other && other !== `${secretName} in ${envName}`) {
            issue(
              at('alternate', 'users'),
              `role ${user.replaceAll('{env}', envName)} on ${store} is already where ${other} lives${recipe.environments.length > 1 ? ' (put {env} in the role names?)' : ''}`,
            );
            break;
          }
          owner.set(key, `${secretName} in ${envName}`);
        }
    }
    recipe.verify.forEach((p, i) => {
      if ('postgresLogin' in p && !p.user && recipe.strategy !== 'alternating')
        issue(
          at('verify', i, 'user'),
          'missing: the role to log in as (only an alternating recipe names it in its value)',
        );
    });
    recipe.locations.forEach((l, i) => {
      for (const envName of recipe.environments) {
        const store = l.store ?? cfg.environments[envName]?.store;
        // Unknown names are reported on their own.
        if (!(envName in cfg.environments) || store === undefined || !(store in cfg.stores)) continue;
        const key = `${store}\0${l.name.replaceAll('{env}', envName)}`;
        const [kubeSecret, kubeKey = ''] = l.name.replaceAll('{env}', envName).split('/');
        const ring = kubeRing.get(`${store}\0${kubeSecret}`);
        if (ring && (kubeKey === 'active' || kubeKey.startsWith('key.'))) {
          issue(
            at('locations', i, 'name'),
            `${kubeKey} of Secret ${kubeSecret} is keyring ${ring}'s (its key.* and active keys)`,
          );
          break;
        }
        const other = owner.get(key);
        if (other && other !== `${secretName} in ${envName}`) {
          issue(
            at('locations', i, 'name'),
            `${store}:${l.name.replaceAll('{env}', envName)} is already where ${other} lives${other.includes(' in ') ? ' (put {env} in the name?)' : ''}`,
          );
          break;
        }
        owner.set(key, `${secretName} in ${envName}`);
      }
    });
    recipe.environments.forEach((envName, i) => {
      if (!(envName in cfg.environments))
        issue(
          at('environments', i),
          `unknown environment "${envName}"${didYouMean(envName, Object.keys(cfg.environments))}`,
        );
    });
    recipe.consumers.forEach((service, i) => {
      if (!(service in cfg.services))
        issue(
          at('consumers', i),
          `unknown service "${service}"${didYouMean(service, Object.keys(cfg.services))}`,
        );
    });
    const postgres = (store: string | undefined) =>
      store !== undefined && cfg.stores[store]?.type === 'postgres';
    const sink = (store: string | undefined) => store !== undefined && isWriteOnly(cfg.stores[store]);
    if (recipe.strategy === 'alternating') {
      if (!recipe.alternate)
        issue(at('alternate'), 'an alternating recipe needs alternate: {store, users: [A, B]}');
      else if (!postgres(recipe.alternate.store))
        issue(at('alternate', 'store'), `"${recipe.alternate.store}" is not a postgres store`);
      else if (recipe.alternate.users[0] === recipe.alternate.users[1])
        issue(at('alternate', 'users'), 'two different roles');
    } else if (recipe.alternate) issue(at('alternate'), 'only for strategy: alternating');
    if (recipe.strategy === 'keyring') {
      if (!recipe.keyring) issue(at('keyring'), 'a keyring recipe needs keyring: {overlap}');
      // The old keys are dropped after the overlap: there is no single old value to revoke.
      if (recipe.revoke) issue(at('revoke'), 'a keyring recipe drops its old keys instead');
      const rows = recipe.keyring?.reencrypt;
      if (rows) {
        const g = recipe.generator;
        if (!postgres(rows.store))
          issue(at('keyring', 'reencrypt', 'store'), `"${rows.store}" is not a postgres store`);
        if (g.type !== 'random' || g.bytes !== 32)
          issue(
            at('generator'),
            'rows are re-encrypted with AES-256-GCM: the generator must be {type: random, bytes: 32}',
          );
        if (rows.columns.includes(rows.key) || new Set(rows.columns).size !== rows.columns.length)
          issue(at('keyring', 'reencrypt', 'columns'), 'each sealed column once, and not the key column');
      }
    } else if (recipe.keyring) issue(at('keyring'), 'only for strategy: keyring');
    // A credential of several fields: the first location holds it whole, others one field each.
    const fields = recipe.generator.type === 'command' ? recipe.generator.fields : undefined;
    recipe.locations.forEach((l, i) => {
      if (l.field === undefined) return;
      if (!fields) issue(at('locations', i, 'field'), 'only for a command generator with fields:');
      else if (i === 0)
        issue(at('locations', 0, 'field'), 'the first location holds the whole credential (every field)');
      else if (!fields.includes(l.field))
        issue(
          at('locations', i, 'field'),
          `"${l.field}" is not one of the generator's fields (${fields.join(', ')})${didYouMean(l.field, fields)}`,
        );
      else if (recipe.strategy !== 'replace')
        issue(at('locations', i, 'field'), 'only for strategy: replace');
    });
    if (fields && recipe.strategy !== 'replace')
      issue(at('generator', 'fields'), 'a credential of several fields is rotated by strategy: replace');
    recipe.verify.forEach((p, i) => {
      if ('s3' in p && !(fields?.includes('accessKeyId') && fields.includes('secretAccessKey')))
        issue(
          at('verify', i, 's3'),
          "an s3 probe signs with the value's accessKeyId and secretAccessKey: the generator must be a command with fields: [accessKeyId, secretAccessKey]",
        );
      if ('postgresLogin' in p && !postgres(p.postgresLogin))
        issue(at('verify', i, 'postgresLogin'), `"${p.postgresLogin}" is not a postgres store`);
    });
    recipe.locations.forEach((l, i) => {
      if (sink(l.store)) {
        const what = postgres(l.store) ? 'a postgres role' : `a ${cfg.stores[l.store as string]?.type} store`;
        // The new value is made in the first location and read back from it (the others are
        // copied from it, and put back from its old version): a write-only place cannot be read.
        if (i === 0)
          issue(
            at('locations', 0, 'store'),
            `the first location must be a store rekey can read back (${what} ${kindOf(cfg.stores[l.store as string] as never).access === 'no-versions' ? 'keeps no versions to put back' : 'cannot'})`,
          );
        // A key list is copied from the first location like any value; a role's password is not one.
        if (recipe.strategy === 'alternating' || (recipe.strategy === 'keyring' && postgres(l.store)))
          issue(
            at('locations', i, 'store'),
            `${what} is not a location of ${recipe.strategy === 'alternating' ? 'an alternating recipe (it sets its roles through alternate:)' : 'a keyring recipe (a password is not a key list)'}`,
          );
      } else if (l.store !== undefined && !(l.store in cfg.stores)) {
        issue(
          at('locations', i, 'store'),
          `unknown store "${l.store}"${didYouMean(l.store, Object.keys(cfg.stores))}`,
        );
        return;
      }
      // Each environment's name, by its store's rule (a parameter path, GitHub's, a Secret's key).
      for (const envName of recipe.environments) {
        const storeName = l.store ?? cfg.environments[envName]?.store;
        const store = storeName === undefined ? undefined : cfg.stores[storeName];
        const resolved = l.name.replaceAll('{env}', envName);
        const problem = store && kindOf(store).nameProblem(resolved, storeName as string);
        if (problem) {
          issue(at('locations', i, 'name'), `"${resolved}" (in ${envName}) is not ${problem}`);
          break;
        }
      }
    });
  }
}
