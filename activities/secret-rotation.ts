// Activities of a secret recipe's rotation (rotateSecret): plan, write each location, restart the
// consumers, probe, put locations back, revoke the old value. The new value is made inside the
// write of the first location and copied from there to the others; workflows see store names,
// parameter names and versions only. Every write is tagged with the run, so a retried write
// finds its own version instead of writing again.
import { type GatePolicy, gatePolicy } from '../config/approvals';
import { parseDuration } from '../config/duration';
import type { Config } from '../config/schema';
import type { SecretRecipe } from '../config/secret-recipes';
import { FailureType, fail } from '../shared/failures';
import { generate } from './generators';
import { beat, heartbeating } from './heartbeat';
import { type Host, withHost } from './hosts';
import { restoreVersion, type SecretStore } from './secret-store';
import { createServiceDriver } from './service';
import { SsmStore } from './ssm-store';

export interface SecretTarget {
  secret: string;
  env: string;
}

export interface LocationPlan {
  store: string;
  name: string;
  /** The version consumers read now; every location has one (rekey never creates a location, so
   * a failed rotation can always put each one back). */
  current: string;
}

export interface SecretPlan extends SecretTarget {
  locations: LocationPlan[];
  consumers: string[];
  probes: string[];
  revoke: boolean;
  approvalRequired: boolean;
  approval?: GatePolicy;
  /** Lines for the dry run, the gate and the Web UI. */
  text: string[];
}

export interface SecretDeps {
  config: Config;
  store(name: string): SecretStore;
}

const fill = (template: string, env: string) => template.replaceAll('{env}', env);

export function probeText(p: SecretRecipe['verify'][number]): string {
  return 'http' in p
    ? `GET ${p.http} -> ${p.status}`
    : `${p.command}${p.expect ? ` prints /${p.expect}/` : ''}${p.secretOnStdin ? ' (new value on stdin)' : ''}`;
}

export function createSecretActivities(deps: SecretDeps) {
  const { config } = deps;

  function recipeOf({ secret, env }: SecretTarget): SecretRecipe {
    const recipe = config.secrets[secret];
    if (!recipe)
      throw fail(
        FailureType.BadInput,
        `unknown secret "${secret}" (secrets: ${Object.keys(config.secrets).join(', ') || 'none'})`,
      );
    if (!recipe.environments.includes(env))
      throw fail(
        FailureType.BadInput,
        `secret ${secret} is not rotated in environment "${env}" (its environments: ${recipe.environments.join(', ')})`,
      );
    return recipe;
  }

  function locationsOf(t: SecretTarget) {
    const envCfg = config.environments[t.env];
    if (!envCfg) throw fail(FailureType.BadInput, `unknown environment "${t.env}"`);
    return recipeOf(t).locations.map((l) => {
      const storeName = l.store ?? envCfg.store;
      return { store: storeName, name: fill(l.name, t.env), secrets: deps.store(storeName) };
    });
  }

  function onEnvHost<T>(env: string, fn: (h: Host) => Promise<T>): Promise<T> {
    const hostName = config.environments[env]?.host as string;
    return withHost(hostName, config.hosts[hostName] as never, fn);
  }

  /** The first location's newest value, for a probe that logs in with it (never returned from
   * an activity: it would be in the history). */
  async function currentValue(t: SecretTarget): Promise<string> {
    const first = locationsOf(t)[0] as ReturnType<typeof locationsOf>[number];
    return (await first.secrets.get(first.name)).value;
  }

  /** The version this run wrote at `name`, if it did. */
  async function writtenBy(secrets: SecretStore, name: string, runId: string) {
    return (await secrets.listVersions(name)).find(
      (v) => v.tags.rekeyRunId === runId && v.tags.step === 'write',
    );
  }

  return {
    async planSecretRotation(t: SecretTarget): Promise<SecretPlan> {
      const recipe = recipeOf(t);
      const locations: LocationPlan[] = [];
      for (const l of locationsOf(t)) {
        const current = (await l.secrets.listVersions(l.name)).at(-1);
        if (!current)
          throw fail(
            FailureType.BadInput,
            `secret ${t.secret} in ${t.env}: location ${l.store}:${l.name} has no value yet; write a first one by hand (rekey never creates a location, so that a failed rotation can always put each one back); nothing was changed`,
          );
        locations.push({ store: l.store, name: l.name, current: current.version });
      }
      const approvalRequired = config.approvals.requiredFor.includes(t.env);
      const probes = recipe.verify.map(probeText);
      const text = [
        `secret ${t.secret} in ${t.env}: new value (${recipe.generator.type}), strategy ${recipe.strategy}`,
        ...locations.map((l, i) => `  ${i + 1}. write ${l.store}:${l.name} (now version ${l.current})`),
        `  restart: ${recipe.consumers.join(', ') || 'none'}`,
        `  verify: ${probes.join('; ') || 'none'}`,
        `  then ${recipe.revoke ? 'revoke the old value' : 'keep no copy of the old value beyond the stores'}; on a failure every location is put back${recipe.consumers.length ? ' and the consumers restarted' : ''}`,
      ];
      return {
        ...t,
        locations,
        consumers: recipe.consumers,
        probes,
        revoke: recipe.revoke !== undefined,
        approvalRequired,
        ...(approvalRequired ? { approval: gatePolicy(config, [t.env]) } : {}),
        text,
      };
    },

    /** Writes location `index` (in the recipe's order): the first gets a fresh value, the others
     * the value this run wrote to the first. Once per run and location. */
    async writeSecretLocation(input: SecretTarget & { runId: string; index: number }): Promise<string> {
      const locations = locationsOf(input);
      const l = locations[input.index];
      if (!l) throw fail(FailureType.BadInput, `secret ${input.secret}: no location ${input.index + 1}`);
      const done = await writtenBy(l.secrets, l.name, input.runId);
      if (done) return done.version;
      let value: string;
      if (input.index === 0) {
        value = await onEnvHost(input.env, (host) =>
          generate(recipeOf(input).generator, { host, env: input.env, secret: input.secret }),
        );
      } else {
        const first = locations[0] as (typeof locations)[number];
        const source = await writtenBy(first.secrets, first.name, input.runId);
        if (!source)
          throw fail(
            FailureType.NotFound,
            `secret ${input.secret}: this run's value is not at ${first.store}:${first.name}`,
          );
        value = (await first.secrets.get(first.name, source.version)).value;
      }
      const v = await l.secrets.set(l.name, value, {
        rekeyRunId: input.runId,
        step: 'write',
        secret: input.secret,
      });
      if (l.secrets instanceof SsmStore) await l.secrets.label(l.name, v.version, ['pending']);
      return v.version;
    },

    /** Makes `previous` current again at location `index`, if this run changed it; once per run. */
    async restoreSecretLocation(
      input: SecretTarget & { runId: string; index: number; previous: string },
    ): Promise<string> {
      const l = locationsOf(input)[input.index];
      if (!l) throw fail(FailureType.BadInput, `secret ${input.secret}: no location ${input.index + 1}`);
      const ref = await restoreVersion(l.secrets, l.name, input.previous, input.runId);
      if (l.secrets instanceof SsmStore) {
        const tried = await writtenBy(l.secrets, l.name, input.runId);
        if (tried) await l.secrets.unlabel(l.name, tried.version, ['pending']);
        await l.secrets.label(l.name, ref.version, ['current']);
      }
      return ref.version;
    },

    /** After the run passed its probes: the new version is current, the old one previous. */
    async labelSecretLocation(input: SecretTarget & { index: number; current: string; previous: string }) {
      const l = locationsOf(input)[input.index];
      if (l?.secrets instanceof SsmStore) {
        await l.secrets.unlabel(l.name, input.current, ['pending']);
        await l.secrets.label(l.name, input.current, ['current']);
        await l.secrets.label(l.name, input.previous, ['previous']);
      }
    },

    /** Restarts every consumer at once (they share the value: none may run with the old one
     * while another has the new). */
    async restartConsumers(t: SecretTarget): Promise<void> {
      const recipe = recipeOf(t);
      await heartbeating(() =>
        onEnvHost(t.env, (host) =>
          Promise.all(
            recipe.consumers.map(async (name) => {
              await createServiceDriver(host, config.services[name] as never).restart();
              beat(`restarted ${name}`);
            }),
          ),
        ),
      );
    },

    /** Tries probe `index` until it passes or its `within` ends. */
    async probeSecret(input: SecretTarget & { runId: string; index: number }): Promise<string> {
      const recipe = recipeOf(input);
      const probe = recipe.verify[input.index];
      if (!probe) throw fail(FailureType.BadInput, `secret ${input.secret}: no probe ${input.index + 1}`);
      const deadline = Date.now() + parseDuration(probe.within);
      const value = 'command' in probe && probe.secretOnStdin ? await currentValue(input) : undefined;
      return heartbeating(async () => {
        let last = '';
        for (;;) {
          last = await tryProbe(probe, input.env, value);
          if (!last) return probeText(probe);
          beat(last);
          if (Date.now() > deadline)
            throw fail(
              FailureType.VerifyFailed,
              `secret ${input.secret} in ${input.env}: ${probeText(probe)} did not pass within ${probe.within}: ${last}`,
            );
          await new Promise((r) => setTimeout(r, 1000));
        }
      });

      async function tryProbe(
        p: NonNullable<typeof probe>,
        env: string,
        secret: string | undefined,
      ): Promise<string> {
        if ('http' in p) {
          const url = fill(p.http, env);
          try {
            const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
            await res.body?.cancel();
            return res.status === p.status ? '' : `status ${res.status}`;
          } catch (err) {
            return `${(err as Error).message}`;
          }
        }
        return onEnvHost(env, async (host) => {
          const r = await host.exec(fill(p.command, env), {
            cwd: host.appDir,
            ...(secret === undefined ? {} : { stdin: secret }),
          });
          if (r.code !== 0) return `exit ${r.code}`;
          if (p.expect && !new RegExp(p.expect).test(r.stdout)) return 'output did not match';
          return '';
        });
      }
    },

    /** Retires the old value: the revoke command with it on stdin. */
    async revokeOldSecret(input: SecretTarget & { previous: string }): Promise<void> {
      const recipe = recipeOf(input);
      if (!recipe.revoke) return;
      const first = locationsOf(input)[0] as ReturnType<typeof locationsOf>[number];
      const old = (await first.secrets.get(first.name, input.previous)).value;
      const command = recipe.revoke.command;
      await onEnvHost(input.env, async (host) => {
        const r = await host.exec(`REKEY_ENV=${input.env} REKEY_SECRET=${input.secret} ${command}`, {
          cwd: host.appDir,
          stdin: old,
        });
        // Its stderr may echo the value it was given: that is cut out before it is quoted.
        if (r.code !== 0)
          throw fail(
            FailureType.CommandFailed,
            `secret ${input.secret} in ${input.env}: the revoke command exited ${r.code}: ${r.stderr.replaceAll(old, '[old value]').trim().slice(-300)}`,
          );
      });
    },
  };
}

export type SecretActivities = ReturnType<typeof createSecretActivities>;
