// New secret values, made inside the activity that writes them (a value never travels through a
// workflow): random bytes, passwords under a policy, Fernet keys, or a command's output for
// credentials another system issues (a value a person issues is supplied: secret-supply.ts).
import { randomBytes, randomInt } from 'node:crypto';
import { type CharacterClass, type GeneratorConfig, policyAlphabets } from '../config/secret-recipes';
import type { Host } from '../hosts/types';
import { FailureType, fail } from '../shared/failures';
import { fernetKey } from './fernet';

/** A password of `length` characters with at least one of each class, from a CSPRNG. */
export function password(length: number, classes: CharacterClass[], exclude: string): string {
  const alphabets = Object.values(policyAlphabets(classes, exclude));
  if (alphabets.some((a) => a.length === 0) || alphabets.length > length)
    throw fail(FailureType.BadInput, 'the password policy cannot be met');
  const all = alphabets.join('');
  const chars = [
    ...alphabets.map((a) => a[randomInt(a.length)] as string),
    ...Array.from({ length: length - alphabets.length }, () => all[randomInt(all.length)] as string),
  ];
  // Fisher-Yates, so the guaranteed characters are not always first.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
  }
  return chars.join('');
}

/** A new value; `host` (the environment's) runs a `command` generator. */
export async function generate(
  gen: GeneratorConfig,
  where: { host?: Host; env: string; secret: string },
): Promise<string> {
  switch (gen.type) {
    case 'random':
      return randomBytes(gen.bytes).toString(gen.encoding);
    case 'password':
      return password(gen.length, gen.classes, gen.exclude);
    case 'fernet':
      return fernetKey();
    case 'manual':
      // Supplied before the first write (the run's `supply` step): never made here.
      throw fail(
        FailureType.PolicyViolation,
        `secret ${where.secret}: its value is issued at ${gen.issuer} and supplied (rekey secret supply), not made by rekey; no supplied version of this run was found`,
      );
    case 'command': {
      if (!where.host)
        throw new Error(`secret ${where.secret}: a command generator needs the environment's host`);
      const r = await where.host.exec(`REKEY_ENV=${where.env} REKEY_SECRET=${where.secret} ${gen.run}`, {
        cwd: where.host.appDir,
      });
      // Its output is the secret: never quoted in an error.
      if (r.code !== 0)
        throw fail(
          FailureType.CommandFailed,
          `secret ${where.secret}: the generator command exited ${r.code} on ${where.host.name} (output not shown)`,
        );
      const value = r.stdout.trim();
      if (!value)
        throw fail(
          FailureType.CommandFailed,
          `secret ${where.secret}: the generator command printed nothing on ${where.host.name}`,
        );
      return gen.fields
        ? credentialOf(value, gen.fields, `secret ${where.secret}: the generator command`)
        : value;
    }
  }
}

/** A credential of several fields (an access key pair) as one value: `text` must be a JSON object
 * with exactly `fields`, each a non-empty string; kept in the fields' order. Never quoted. */
export function credentialOf(text: string, fields: string[], what: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {}
  const obj = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const wrong = fields.filter((f) => typeof obj[f] !== 'string' || !obj[f]);
  const extra = Object.keys(obj).filter((k) => !fields.includes(k));
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || wrong.length || extra.length)
    throw fail(
      FailureType.BadInput,
      `${what} did not print a JSON object with the string fields ${fields.join(', ')}${wrong.length && typeof parsed === 'object' ? ` (missing or empty: ${wrong.join(', ')})` : ''}${extra.length ? ` (unexpected: ${extra.join(', ')})` : ''}; output not shown (if it issued a credential, revoke that at the issuer)`,
    );
  return JSON.stringify(Object.fromEntries(fields.map((f) => [f, obj[f]])));
}
