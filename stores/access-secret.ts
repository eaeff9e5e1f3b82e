// A secret rekey needs to reach a store (an admin password, an API token): a secret of another
// store, or an environment variable. Read when used, never kept.
import { z } from 'zod';
import { entryName } from '../config/names';

export const SecretReference = z.union([
  z.strictObject({ store: entryName, name: z.string().min(1) }),
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }),
]);

export type AccessSecret = z.infer<typeof SecretReference>;

/** The place of a store's access secret, when it is one of another store (`store\0name`). */
export const accessPlace = (from: AccessSecret): string[] =>
  'store' in from ? [`${from.store}\0${from.name}`] : [];
