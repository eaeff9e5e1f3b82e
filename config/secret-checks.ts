// The checks of rekey.yaml's secret recipes against the rest of it (config/cross-checks.ts runs
// them): the stores, environments and services each recipe names exist, its places are its own,
// its first location is a store rekey can read back, and its names are its stores' kind.
import { isWriteOnly, kindOf } from '../stores/kinds';
import { checkPairPlaces, type Issue } from './cross-checks';
import type { Config } from './schema';
import { fieldsOf } from './secret-recipes';
import { didYouMean } from './suggest';

export function checkSecrets(cfg: Config, issue: Issue) {
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
    // A value a person issues: rekey copies it on and asks an approver to confirm the old one gone.
    if (recipe.generator.type === 'manual') {
      if (recipe.strategy !== 'replace')
        issue(at('strategy'), 'a value issued elsewhere (generator: manual) is rotated by strategy: replace');
      if (recipe.revoke)
        issue(
          at('revoke'),
          `a manual value is revoked where it was issued (${recipe.generator.issuer}): the run ends at a gate where an approver confirms it; drop revoke:`,
        );
      if (Object.keys(cfg.approvals.approvers).length === 0)
        issue(
          at('generator'),
          'a manual value ends at a gate where an approver confirms the old one revoked: approvals.approvers names nobody',
        );
    }
    // A credential of several fields: the first location holds it whole, others one field each.
    const fields = fieldsOf(recipe.generator);
    recipe.locations.forEach((l, i) => {
      if (l.field === undefined) return;
      if (!fields) issue(at('locations', i, 'field'), 'only for a command or manual generator with fields:');
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
