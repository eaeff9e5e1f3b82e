// A credential rekey.yaml names by reference, never by value: a file holding it, or an
// environment variable of the process that needs it (the worker, the CLI). Read there; the error
// names where it looked, never what it found.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const SecretSource = z.union([
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }),
]);
export type SecretSource = z.infer<typeof SecretSource>;

/** The credential, trimmed; `what` names it in the error ("notify.sinks.hook.secret", "codec key k1"). */
export function readSecretSource(source: SecretSource, what: string): string {
  let value: string | undefined;
  if ('file' in source) {
    try {
      value = readFileSync(source.file, 'utf8');
    } catch (err) {
      throw new Error(`${what}: cannot read file ${source.file} (${(err as NodeJS.ErrnoException).code})`);
    }
  } else {
    value = process.env[source.env];
    if (value === undefined) throw new Error(`${what}: $${source.env} is not set`);
  }
  if (!value.trim())
    throw new Error(`${what}: ${'file' in source ? `file ${source.file}` : `$${source.env}`} is empty`);
  return value.trim();
}

/** Where `source` points, for messages. */
export const sourceText = (source: SecretSource): string =>
  'file' in source ? `file ${source.file}` : `$${source.env}`;
