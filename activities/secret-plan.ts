// The plan of a secret recipe's rotation, read before any change: each location's current version
// (or that a write-only place is there and may be written), what the strategy needs (the role in
// use, the key list and the table it seals), the gate, and the lines the dry run, the gate and the
// Web UI show.
import { gatedOf, gatePolicy, scopeOf } from '../config/approvals';
import type { Config } from '../config/schema';
import { fieldsOf } from '../config/secret-recipes';
import { FailureType, fail } from '../shared/failures';
import { aesKey, checkFirstRow, describeTable } from './reencrypt';
import {
  credential,
  fieldOf,
  fill,
  type LocationPlan,
  probeText,
  recipeDigest,
  type SecretPlan,
  type SecretRecipes,
  type SecretTarget,
} from './secret-recipe';
import { generatorText, manualOf, supplyLines } from './secret-supply';

/** `compromised`: a compromise response's plan (a keyring's old keys dropped at once). */
export async function planSecretRotation(
  config: Config,
  { recipeOf, locationsOf, valueAt, postgresServer, keyList }: SecretRecipes,
  t: SecretTarget & { compromised?: boolean },
): Promise<SecretPlan> {
  const recipe = recipeOf(t);
  const locations: LocationPlan[] = [];
  const sinks: (string | undefined)[] = [];
  for (const l of locationsOf(t)) {
    sinks.push(l.kind === 'sink' ? l.text : undefined);
    if (l.kind === 'sink') {
      if (!(await l.exists()))
        throw fail(
          FailureType.BadInput,
          `secret ${t.secret} in ${t.env}: ${l.marker === 'role' ? `${l.store} has no login role "${l.name}"` : `${l.store} has no secret ${l.name} yet; set a first value by hand (rekey never creates a location)`}; nothing was changed`,
        );
      locations.push({ store: l.store, name: l.name, current: l.marker });
      continue;
    }
    const current = await l.secrets.current(l.name);
    if (!current)
      throw fail(
        FailureType.BadInput,
        `secret ${t.secret} in ${t.env}: location ${l.store}:${l.name} has no value yet; rekey secret init ${t.secret} --env ${t.env} writes a first one (a rotation never creates a location, so that a failed one can always put each one back); nothing was changed`,
      );
    locations.push({ store: l.store, name: l.name, current: current.version });
  }
  // A credential of several fields: the value now in place must have them (a put-back of a
  // field location reads it), or nothing starts.
  const fields = fieldsOf(recipe.generator);
  const first = locations[0];
  if (fields && first) {
    const value = await valueAt(t, { version: first.current });
    if (fields.some((f) => fieldOf(value, f) === undefined))
      throw fail(
        FailureType.BadInput,
        `secret ${t.secret} in ${t.env}: the value at ${first.store}:${first.name} (version ${first.current}) is not a credential with the fields ${fields.join(', ')} (value not shown); nothing was changed`,
      );
  }
  let alternate: SecretPlan['alternate'];
  if (recipe.strategy === 'alternating' && recipe.alternate) {
    const { store } = recipe.alternate;
    // `{env}` in the role names gives each environment its own pair.
    const users = recipe.alternate.users.map((u) => fill(u, t.env));
    const first = locations[0] as LocationPlan;
    const from = credential(
      await valueAt(t, { version: first.current }),
      `${first.store}:${first.name}`,
    ).username;
    if (!users.includes(from))
      throw fail(
        FailureType.BadInput,
        `secret ${t.secret} in ${t.env}: ${first.store}:${first.name} names role "${from}", not one of ${users.join(', ')}; nothing was changed`,
      );
    const to = (users[0] === from ? users[1] : users[0]) as string;
    if (!(await postgresServer(store).roleCanLogin(to)))
      throw fail(
        FailureType.BadInput,
        `secret ${t.secret} in ${t.env}: ${store} has no login role "${to}"; nothing was changed`,
      );
    alternate = { from, to };
  }
  let keyring: SecretPlan['keyring'];
  if (recipe.strategy === 'keyring' && recipe.keyring) {
    const first = locations[0] as LocationPlan;
    const where = `${first.store}:${first.name}`;
    const keys = keyList(recipe, await valueAt(t, { version: first.current }), where);
    keyring = { keys: keys.length, overlap: t.compromised ? '0s' : recipe.keyring.overlap };
    const rows = recipe.keyring.reencrypt;
    // The table is there, its columns text, and what it holds opens with the list now.
    if (rows)
      keyring.reencrypt = await postgresServer(rows.store).asAdmin(
        async (c) => {
          const facts = await describeTable(c, rows);
          await checkFirstRow(
            c,
            rows,
            keys.map((k) => aesKey(k, where)),
          );
          return { table: rows.table, rows: facts.rows };
        },
        `read table ${rows.table}`,
        rows.database,
      );
  }
  const approvalRequired = gatedOf(config, [t.env]).length > 0;
  const revokeUnused = recipe.generator.type === 'command' && recipe.revoke !== undefined;
  const fieldNote = (i: number) => {
    const f = recipe.locations[i]?.field;
    return f ? ` (field ${f})` : '';
  };
  const probes = recipe.verify.map(probeText);
  const manual = manualOf(config, recipe, t.env);
  const text = [
    `secret ${t.secret} in ${t.env}: new value (${generatorText(recipe.generator)}), strategy ${recipe.strategy}`,
    ...(alternate
      ? [`  role ${alternate.to} gets a fresh password; ${alternate.from} (in use now) keeps its own`]
      : []),
    ...(t.compromised
      ? ['  COMPROMISE RESPONSE: rotated now, the old value revoked (or dropped) at once']
      : []),
    ...(keyring
      ? [
          `  a new key in front of the ${keyring.keys} in the list; ${t.compromised ? 'then at once' : `after ${keyring.overlap}`} the old ones are dropped (a second write, restart and verify)`,
          ...(keyring.reencrypt && recipe.keyring?.reencrypt
            ? [
                `  ${recipe.consumers.length ? 'once the consumers read with the new list' : 'right after the write (no consumers are restarted: whatever reads these rows must read the list anew, or it fails on a row sealed with the new key)'}: UPDATE ${keyring.reencrypt.table} (${keyring.reencrypt.rows} rows now; columns ${recipe.keyring.reencrypt.columns.join(', ')} on ${recipe.keyring.reencrypt.store}), each value sealed again with the new key, ${recipe.keyring.reencrypt.pageSize} rows a transaction; swept again just before the drop`,
              ]
            : []),
        ]
      : []),
    ...supplyLines(recipe, t, `${locations[0]?.store}:${locations[0]?.name}`),
    ...locations.map((l, i) =>
      sinks[i]
        ? `  ${i + 1}. ${sinks[i]}${fieldNote(i)}`
        : `  ${i + 1}. write ${l.store}:${l.name}${fieldNote(i)} (now version ${l.current})${alternate ? ` naming ${alternate.to}` : ''}`,
    ),
    `  restart: ${recipe.consumers.join(', ') || 'none'}`,
    `  verify: ${probes.join('; ') || 'none'}`,
    `  then ${manual ? `an approver confirms the old value revoked at ${manual.issuer}` : recipe.revoke ? 'revoke the old value' : 'keep no copy of the old value beyond the stores'}; on a failure every location is put back${recipe.consumers.length ? ' and the consumers restarted' : ''}${revokeUnused ? ', then the unused new value revoked' : ''}${manual ? ` (revoke the unused new value at ${manual.issuer} by hand)` : ''}`,
  ];
  const { compromised: _, ...target } = t;
  return {
    ...target,
    recipe: recipeDigest(recipe),
    locations,
    ...(alternate ? { alternate } : {}),
    ...(keyring ? { keyring } : {}),
    consumers: recipe.consumers,
    probes,
    revoke: recipe.revoke !== undefined,
    ...(revokeUnused ? { revokeUnused } : {}),
    ...(manual ? { manual } : {}),
    approvalRequired,
    ...(approvalRequired ? { approval: gatePolicy(config, [t.env]) } : {}),
    scope: scopeOf(config, [t.env]),
    text,
  };
}
