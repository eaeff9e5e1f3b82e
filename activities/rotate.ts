// Activities of the JWT key rotation. Each one is idempotent under retry and returns only
// references, fingerprints and identities: key values and tokens stay inside this module.
import { posix } from 'node:path';
import { keyGroupMembers, keyGroupOf } from '../config/key-groups';
import { sharingKeys } from '../config/key-places';
import { shellQuote } from '../hosts/shell';
import { resolveOnHost } from '../hosts/types';
import { createServiceDriver, restartAndCheck } from '../services/service';
import type { Approved } from '../shared/approval-proof';
import { FailureType, fail } from '../shared/failures';
import { readCurrentPair, readKeyPair, restoreVersion, storeKeyPair } from '../stores/pairs';
import { type PairRef, pairRef, type RecordedPairRef, type SecretStore } from '../stores/types';
import {
  BACKUP_DIR,
  environmentKeys,
  type RecordedVersions,
  type RotationDeps,
  versionsOf,
} from './environment-keys';
import { policyProblems, type VerifyReport, type VerifyRow } from './key-policy';
import { assertPairMatches, generateKeyPair, keyFacts, normalizePem } from './keys';
import { type EnvPlan, type PlanInput, planRotation, type RotationPlan } from './rotate-plan';
import { readTokenFromToml, resignCliToml, tokenIdentity, withoutToken } from './tokens';

export interface StagedGroup {
  group: string;
  fingerprint: string;
  kid: string;
  refs: Record<string, PairRef>;
}

export function createRotateActivities(deps: RotationDeps) {
  const { config } = deps;
  const keys = environmentKeys(deps);
  const {
    paths,
    names,
    pairStore,
    envConfig,
    onHost,
    keyFile,
    backupFile,
    cliToml,
    currentPair,
    pairFromEarlierAttempt,
    checklist,
    hostFingerprint,
  } = keys;

  return {
    /** The environments a rotation of `environments` changes: each one's whole key group. */
    async rotationScope(input: { environments: string[] }): Promise<string[]> {
      for (const env of input.environments) envConfig(env); // unknown ones: BadInput
      return keyGroupMembers(config, input.environments);
    },

    /** Reads every store and host involved; changes nothing. */
    async planRotation(input: PlanInput): Promise<RotationPlan> {
      return planRotation(config, deps, keys, input);
    },

    /**
     * Creates one new pair for a key group and stores it as new versions in every store of the
     * group. A retry finds the versions tagged with this run and reuses that pair.
     */
    async stageKeyPair(
      input: {
        runId: string;
        group: string;
        environments: string[];
      } & Approved,
    ): Promise<StagedGroup> {
      const stores = input.environments.map((env) => deps.store(envConfig(env).store));
      const earlier = await pairFromEarlierAttempt(stores, input.environments, input.runId);
      const pair = earlier ?? generateKeyPair();
      assertPairMatches(pair, `key group ${input.group}`);
      const facts = await keyFacts(pair.publicPem);
      const refs: Record<string, PairRef> = {};
      for (const [i, env] of input.environments.entries()) {
        refs[env] = await storeKeyPair(
          stores[i] as SecretStore,
          names(env),
          { ...pair, fingerprint: facts.fingerprint },
          input.runId,
          // A key this attempt just made is known nowhere until its first write: that one needs
          // no look for an earlier version. Every later write looks: a retry of this activity
          // may have taken the key over from there while this attempt still runs.
          !earlier && i === 0,
        );
      }
      return { group: input.group, fingerprint: facts.fingerprint, kid: facts.kid, refs };
    },

    /** keys install: each group's current pair, as the stage step would have returned a new one;
     * every store of a group must hold the same pair. Writes nothing. */
    async currentKeys(input: {
      groups: Record<string, string[]>;
      /** What the plan (and its gate) showed as current: installed only if still current. */
      approved?: Record<string, EnvPlan['current']>;
    }): Promise<StagedGroup[]> {
      const out: StagedGroup[] = [];
      for (const [group, environments] of Object.entries(input.groups)) {
        const refs: Record<string, PairRef> = {};
        let facts: { fingerprint: string; kid: string } | undefined;
        for (const env of environments) {
          const store = deps.store(envConfig(env).store);
          const pair = await readCurrentPair(store, names(env));
          if (!pair)
            throw fail(
              FailureType.BadInput,
              `${env}: store ${store.name} holds no key pair to install (rekey keys import, or rotate); nothing was changed`,
            );
          assertPairMatches(pair, `${env}: current secrets in store ${store.name}`);
          const f = await keyFacts(pair.publicPem);
          const shown = input.approved?.[env];
          if (input.approved && shown?.fingerprint !== f.fingerprint)
            throw fail(
              FailureType.PolicyViolation,
              `${env}: store ${store.name} now holds ${f.fingerprint.slice(0, 12)}, the plan showed ${shown?.fingerprint.slice(0, 12) ?? 'none'}: it changed since; nothing was changed, start again for a new plan`,
            );
          if (facts && f.fingerprint !== facts.fingerprint)
            throw fail(
              FailureType.PolicyViolation,
              `key group ${group}: its stores hold different pairs (${facts.fingerprint.slice(0, 12)}, ${env}: ${f.fingerprint.slice(0, 12)}); rotate the group to make them one; nothing was changed`,
            );
          facts = f;
          refs[env] = { ...pair.ref, fingerprint: f.fingerprint };
        }
        if (facts) out.push({ group, fingerprint: facts.fingerprint, kid: facts.kid, refs });
      }
      return out;
    },

    /**
     * Reads the current pair of every configured environment back from its store and checks
     * parity and the sharing policy: one fingerprint per key group, different across groups.
     */
    async verifyKeys(input: {
      expect?: Record<string, string>;
      includeHosts?: boolean;
      /** Judge only these environments (a run's): another environment's empty or unreadable
       * store is not this run's problem; one whose key lives in the same place still counts
       * against sharing across groups. */
      environments?: string[];
    }): Promise<VerifyReport> {
      // A run's check reads its own environments and those whose key lives in the same place
      // (store and secret name: a misconfiguration that makes two groups overwrite each other).
      // A fresh key can be nowhere else, so a fleet's run does not read every other vault.
      for (const env of input.environments ?? []) envConfig(env); // an unknown one is refused
      const wanted = input.environments && sharingKeys(config, input.environments);
      const envs = Object.keys(config.environments).filter((env) => !wanted || wanted.has(env));
      const rows = await Promise.all(
        envs.map(async (env): Promise<VerifyRow> => {
          const row: VerifyRow = { env, group: keyGroupOf(config, env), fingerprint: null };
          try {
            row.fingerprint = (await currentPair(env))?.fingerprint ?? null;
            if (input.includeHosts) {
              row.hostFingerprint = await onHost(env, hostFingerprint);
              if (row.hostFingerprint !== row.fingerprint) {
                row.problem = `key file on host ${envConfig(env).host} (${row.hostFingerprint?.slice(0, 12) ?? 'missing'}) differs from the store`;
              }
              if (row.fingerprint) row.findings = await checklist(env);
            }
          } catch (err) {
            row.problem = messageOf(err);
          }
          return row;
        }),
      );
      const problems = policyProblems(rows, input.environments);
      for (const r of rows) for (const f of r.findings ?? []) problems.push(`${r.env}: ${f}`);
      for (const [env, fp] of Object.entries(input.expect ?? {})) {
        const row = rows.find((r) => r.env === env);
        if (row?.fingerprint !== fp)
          problems.push(`${env}: store holds ${row?.fingerprint ?? 'nothing'}, expected ${fp}`);
      }
      return { rows, problems, ok: problems.length === 0 };
    },

    /** Backs up the host's key files (once per run), then installs the staged pair atomically. */
    async installKeyFiles(input: { env: string; runId: string; ref: RecordedPairRef } & Approved) {
      const ref = pairRef(input.ref);
      const store = pairStore(input.env, ref);
      const pair = await readKeyPair(store, names(input.env), {
        privateKey: ref.privateKeyRef.version,
        publicKey: ref.publicKeyRef.version,
      });
      return onHost(input.env, async (h) => {
        const previous = await hostFingerprint(h);
        // Both files, not only the public key: a host may hold the right .pub beside another key.
        const privateNow = await h.readFile(keyFile(h, paths.privateKeyFile));
        if (
          previous === ref.fingerprint &&
          privateNow &&
          normalizePem(privateNow.toString()) === normalizePem(pair.privatePem)
        )
          return { previous: null, installed: previous, changed: false };
        for (const file of [paths.privateKeyFile, paths.publicKeyFile]) {
          const current = await h.readFile(keyFile(h, file));
          const backup = backupFile(h, input.runId, file);
          if (current && !(await h.stat(backup))) await h.writeFileAtomic(backup, current, 0o600);
        }
        // The public key keeps the mode the operator chose (0644 otherwise). The new private key
        // is 0600, or 0640 where the old one was readable by its group only (a service group
        // reading it): never readable by others, whatever the old file allowed.
        const modeOf = async (file: string, fallback: number) =>
          (await h.stat(keyFile(h, file)))?.mode ?? fallback;
        const oldPrivate = await modeOf(paths.privateKeyFile, 0o600);
        await h.writeFileAtomic(
          keyFile(h, paths.privateKeyFile),
          pair.privatePem,
          oldPrivate & 0o004 ? 0o600 : 0o600 | (oldPrivate & 0o040),
        );
        await h.writeFileAtomic(
          keyFile(h, paths.publicKeyFile),
          pair.publicPem,
          await modeOf(paths.publicKeyFile, 0o644),
        );
        const installed = await hostFingerprint(h);
        if (installed !== ref.fingerprint) {
          throw new Error(
            `${input.env}: key file on ${h.name} reads back as ${installed}, expected ${ref.fingerprint}`,
          );
        }
        return { previous, installed, changed: true };
      });
    },

    /** Re-signs the host's cached publisher token with the staged private key; same identity. */
    async resignPublisherToken(input: { env: string; runId: string; ref: RecordedPairRef } & Approved) {
      const ref = pairRef(input.ref);
      const store = pairStore(input.env, ref);
      const { value: privatePem } = await store.get(names(input.env).privateKey, ref.privateKeyRef.version);
      return onHost(input.env, async (h) => {
        const path = cliToml(h);
        const where = `${input.env}: ${path}`;
        const text = await h.readFile(path);
        if (!text) throw fail(FailureType.BadInput, `${where}: missing`);
        // The token must be signed by the key it was issued under: the host's key before this run
        // (backed up by installKeyFiles), or the key file as it is when the files are not synced.
        const signers: string[] = [];
        for (const file of [
          backupFile(h, input.runId, paths.publicKeyFile),
          keyFile(h, paths.publicKeyFile),
        ]) {
          const pem = await h.readFile(file);
          if (pem) signers.push(pem.toString());
        }
        const result = await resignCliToml(text.toString(), privatePem, paths.tokenField, where, signers);
        if (result.changed) {
          const backup = resolveOnHost(h, posix.join(BACKUP_DIR, input.runId, 'cli.toml'));
          if (!(await h.stat(backup))) await h.writeFileAtomic(backup, text, 0o600);
          const mode = (await h.stat(path))?.mode ?? 0o600;
          await h.writeFileAtomic(path, result.text, mode);
        }
        return { before: result.before, after: result.after, changed: result.changed };
      });
    },

    /** Clean-slate rotation (the guide's Strategy A): removes the cached publisher token from
     * cli.toml (its other settings stay; the file is backed up for a rollback), so the next
     * publish logs in afresh and gets a new owner identity from the server's new key. */
    async clearPublisherToken(input: { env: string; runId: string } & Approved) {
      return onHost(input.env, async (h) => {
        const path = cliToml(h);
        const text = await h.readFile(path);
        // Saved either way: the next publish writes a new token, which a rollback must take away.
        const backup = backupFile(h, input.runId, 'cli.toml');
        const absent = backupFile(h, input.runId, 'cli.toml.absent');
        if (!text) {
          if (!(await h.stat(absent))) await h.writeFileAtomic(absent, '', 0o600);
          return { cleared: null };
        }
        if (!(await h.stat(backup))) await h.writeFileAtomic(backup, text, 0o600);
        const where = `${input.env}: ${path}`;
        const raw = readTokenFromToml(text.toString(), paths.tokenField, where, true);
        if (!raw) return { cleared: null };
        await h.writeFileAtomic(
          path,
          withoutToken(text.toString(), paths.tokenField),
          (await h.stat(path))?.mode ?? 0o600,
        );
        return { cleared: tokenIdentity(raw, where) };
      });
    },

    /** After an environment passed its gates: the host's backups of all but the last
     * `retention.backups` runs are removed (old private keys do not stay on the host forever), and
     * the store's key versions beyond the newest `retention.versions` are disabled (never purged;
     * stores that cannot disable keep them, said in the result). Idempotent. */
    async retireOldKeys(
      input: {
        env: string;
        runId: string;
        retention?: { backups: number; versions: number };
      } & Approved,
    ) {
      const e = envConfig(input.env);
      // What the approved plan showed, not config read again.
      const keep = input.retention ?? config.retention;
      const removed = await onHost(input.env, async (h) => {
        const dir = resolveOnHost(h, BACKUP_DIR);
        // Run directories only (run ids: letters, digits, dashes), newest first by mtime; this
        // run's own backup is always kept.
        const res = await h.exec(
          `[ -d ${shellQuote(dir)} ] || exit 0; find ${shellQuote(dir)} -mindepth 1 -maxdepth 1 -type d -printf '%T@ %f\\n'`,
        );
        if (res.code !== 0) throw new Error(`${input.env}: cannot list ${dir}: ${res.stderr.trim()}`);
        const runs = res.stdout
          .split('\n')
          .map((l) => /^(\d+(?:\.\d+)?) ([A-Za-z0-9][A-Za-z0-9-]*)$/.exec(l))
          .filter((m): m is RegExpExecArray => m !== null)
          .sort((a, b) => Number(b[1]) - Number(a[1]))
          .map((m) => m[2] as string)
          .filter((r) => r !== input.runId);
        const old = runs.slice(Math.max(0, keep.backups - 1));
        for (const r of old) {
          const rm = await h.exec(`rm -rf -- ${shellQuote(posix.join(dir, r))}`);
          if (rm.code !== 0)
            throw new Error(`${input.env}: cannot remove ${posix.join(dir, r)}: ${rm.stderr.trim()}`);
        }
        return old;
      });
      const store = deps.store(e.store);
      const disabled: string[] = [];
      if (store.disable) {
        for (const name of [names(input.env).privateKey, names(input.env).publicKey]) {
          const current = (await store.current(name))?.version;
          const versions = (await store.listVersions(name)).filter((v) => v.version !== current);
          // The newest `versions - 1` besides the current one stay enabled: a rollback's put-back.
          for (const v of versions.slice(0, Math.max(0, versions.length - (keep.versions - 1))))
            if (v.enabled) {
              await store.disable(name, v.version);
              disabled.push(`${name}@${v.version}`);
            }
        }
      }
      return { removedBackups: removed, disabledVersions: disabled, storeKeepsAll: !store.disable };
    },

    /** Restarts the service so it loads the key files, publishes, and waits for the markers. */
    async restartAndVerify(input: { env: string } & Approved) {
      const e = envConfig(input.env);
      return onHost(input.env, async (h) => ({
        marker: (await restartAndCheck(createServiceDriver(h, e.serviceConfig))).line,
      }));
    },

    /** Makes the versions current before this run current again (as new versions: Key Vault's
     * current version is always the newest). Idempotent per run. */
    async restoreSecrets(
      input: {
        env: string;
        runId: string;
        previous: RecordedVersions;
      } & Approved,
    ) {
      const e = envConfig(input.env);
      const store = deps.store(e.store);
      const { privateKey, publicKey } = names(input.env);
      const previous = versionsOf(input.previous);
      await restoreVersion(store, privateKey, previous.privateKeyVersion, input.runId);
      await restoreVersion(store, publicKey, previous.publicKeyVersion, input.runId);
      return { store: e.store };
    },

    /** Puts the run's backed-up key files and token back on the host, then restarts the service
     * and waits for its publish markers with the old key. */
    async restoreHost(input: { env: string; runId: string } & Approved) {
      const e = envConfig(input.env);
      return onHost(input.env, async (h) => {
        const restored: string[] = [];
        for (const [file, target, mode] of [
          [paths.privateKeyFile, keyFile(h, paths.privateKeyFile), 0o600],
          [paths.publicKeyFile, keyFile(h, paths.publicKeyFile), 0o644],
          ['cli.toml', cliToml(h), 0o600],
        ] as const) {
          // A clean slate on a host without cli.toml: the one its publish wrote goes away.
          if (file === 'cli.toml' && (await h.stat(backupFile(h, input.runId, 'cli.toml.absent')))) {
            await h.remove(target);
            restored.push(file);
            continue;
          }
          const saved = await h.readFile(backupFile(h, input.runId, file));
          if (!saved) continue;
          await h.writeFileAtomic(target, saved, (await h.stat(target))?.mode ?? mode);
          restored.push(file);
        }
        const marker = await restartAndCheck(createServiceDriver(h, e.serviceConfig));
        return { restored, marker: marker.line };
      });
    },
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export type RotateActivities = ReturnType<typeof createRotateActivities>;
