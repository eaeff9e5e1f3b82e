// The plan of a secret's first value (`rekey secret init`): every location must hold none yet. A
// location that holds one is refused, by name, unless only an earlier init of this secret wrote it
// (an init that failed half way: its first values are nobody's yet, and are written anew). What
// follows is a rotation's (gate, writes in order, consumers restarted, probes) without an old
// value: nothing to revoke, nothing to put back.
import { gatedOf, gatePolicy, scopeOf } from '../config/approvals';
import type { Config } from '../config/schema';
import { FailureType, fail } from '../shared/failures';
import {
  fill,
  type LocationPlan,
  NO_VALUE,
  probeText,
  recipeDigest,
  type SecretPlan,
  type SecretRecipes,
  type SecretTarget,
} from './secret-recipe';
import { generatorText, manualOf, supplyLines } from './secret-supply';

export async function planSecretInit(
  config: Config,
  { recipeOf, locationsOf, postgresServer }: SecretRecipes,
  t: SecretTarget,
  /** Whether run `runId` of this secret's workflow ended without finishing (failed, cancelled,
   * terminated, timed out): its first values are nobody's. */
  unfinished: (runId: string) => Promise<boolean>,
): Promise<SecretPlan> {
  const recipe = recipeOf(t);
  const where = `secret ${t.secret} in ${t.env}`;
  const locations: LocationPlan[] = [];
  const lines: string[] = [];
  const held: string[] = [];
  for (const l of locationsOf(t)) {
    if (l.kind === 'sink') {
      const exists = await l.exists();
      // A role's password is set, the role itself made by whoever owns the database.
      if (l.marker === 'role' && !exists)
        throw fail(
          FailureType.BadInput,
          `${where}: ${l.store} has no login role "${l.name}"; nothing was changed`,
        );
      // A write-only place cannot be read: what is there may be someone's.
      if (l.marker !== 'role' && exists) held.push(`${l.store}:${l.name} (it exists, and cannot be read)`);
      locations.push({ store: l.store, name: l.name, current: l.marker });
      lines.push(l.text);
      continue;
    }
    const current = await l.secrets.current(l.name);
    const versions = current ? await l.secrets.listVersions(l.name) : [];
    // Only what inits of this secret wrote, each of which ended unfinished (an init that
    // completed wrote a value in use).
    const inits = versions.every((v) => v.tags.step === 'init' && v.tags.secret === t.secret);
    const runs = [...new Set(versions.map((v) => v.tags.rekeyRunId ?? ''))];
    const earlierInit =
      inits && (await Promise.all(runs.map((r) => r !== '' && unfinished(r)))).every(Boolean);
    if (current && !earlierInit) held.push(`${l.store}:${l.name} (version ${current.version})`);
    locations.push({ store: l.store, name: l.name, current: current?.version ?? NO_VALUE });
    lines.push(
      `write ${l.store}:${l.name} (${current ? `holds version ${current.version} from a secret init that did not finish: written anew` : 'no value yet'})`,
    );
  }
  if (held.length)
    throw fail(
      FailureType.BadInput,
      `${where}: ${held.join(', ')} already ${held.length > 1 ? 'hold' : 'holds'} a value; secret init writes only where there is none yet (rotate it instead: rekey secret rotate ${t.secret} --env ${t.env}); nothing was changed`,
    );
  let alternate: SecretPlan['alternate'];
  if (recipe.strategy === 'alternating' && recipe.alternate) {
    // The first of the two roles takes the first password; the next rotation moves to the other.
    const to = fill(recipe.alternate.users[0], t.env);
    if (!(await postgresServer(recipe.alternate.store).roleCanLogin(to)))
      throw fail(
        FailureType.BadInput,
        `${where}: ${recipe.alternate.store} has no login role "${to}"; nothing was changed`,
      );
    alternate = { from: '', to };
  }
  const approvalRequired = gatedOf(config, [t.env]).length > 0;
  const probes = recipe.verify.map(probeText);
  const manual = manualOf(config, recipe, t.env);
  const text = [
    `${where}: FIRST value (${generatorText(recipe.generator)}), strategy ${recipe.strategy}`,
    ...(alternate ? [`  role ${alternate.to} gets a fresh password; the locations name it`] : []),
    ...(recipe.strategy === 'keyring' ? ['  a list of one key'] : []),
    ...supplyLines(recipe, t, `${locations[0]?.store}:${locations[0]?.name}`),
    ...lines.map((line, i) => `  ${i + 1}. ${line}`),
    `  restart: ${recipe.consumers.join(', ') || 'none'}`,
    `  verify: ${probes.join('; ') || 'none'}`,
    '  no old value to revoke; on a failure the locations written keep the first value (the run names them) and secret init writes them anew',
  ];
  return {
    ...t,
    init: true,
    recipe: recipeDigest(recipe),
    locations,
    ...(alternate ? { alternate } : {}),
    consumers: recipe.consumers,
    probes,
    revoke: false,
    // An issued credential (a command generator) whose init fails is nobody's: retired at once.
    ...(recipe.generator.type === 'command' && recipe.revoke ? { revokeUnused: true } : {}),
    ...(manual ? { manual } : {}),
    approvalRequired,
    ...(approvalRequired ? { approval: gatePolicy(config, [t.env]) } : {}),
    scope: scopeOf(config, [t.env]),
    text,
  };
}
