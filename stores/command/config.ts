// Secrets another tool sets (`flyctl secrets import --app molecule-cp`): a command on the
// environment's host, in its app dir, given the value on stdin, never as an argument. Write-only.
import { z } from 'zod';
import { storeKind } from '../kind';

export const CommandSection = z.strictObject({
  type: z.literal('command'),
  write: z.string().min(1),
  /** What stdin holds: the value, or `NAME=value` (the location's name; flyctl secrets import). */
  stdin: z.enum(['value', 'name=value']).default('value'),
});
export type CommandStoreConfig = z.infer<typeof CommandSection>;

export const commandStore = storeKind({
  schema: CommandSection,
  access: 'write-only',
  holdsKeyPairs: false,
  describe: () => 'command (write-only)',
  // The name is given to the command as REKEY_NAME, and as NAME in NAME=value input.
  nameProblem: (name, storeName) =>
    /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)
      ? undefined
      : `a variable name (letters, digits and _) for command store ${storeName}`,
});
