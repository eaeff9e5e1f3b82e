// What rekey knows of a store type without loading its SDK: its section of rekey.yaml, what it can
// be used for, the rule for the names of the secrets in it, and how `config check` describes it.
// Each store type's folder has one (config.ts), listed in kinds.ts; its SDK half (driver.ts) is
// listed in drivers.ts.
import type { z } from 'zod';

/** A store's section of rekey.yaml: an object whose `type` names its kind. */
export type StoreSection = z.ZodObject<{ type: z.ZodLiteral<string> } & z.ZodRawShape>;

export interface StoreKind<S extends StoreSection = StoreSection> {
  schema: S;
  /** `versions`: rekey reads values back and every version stays (a recipe's first location, a
   * keyring, the codec's keys); `write-only`: rekey sets values but cannot read them;
   * `no-versions`: readable, but only the value in place (nothing to put back). The last two are
   * a recipe's later locations only. */
  access: 'versions' | 'write-only' | 'no-versions';
  /** May hold an environment's JWT key pair. (A keyring and the codec's keys need only `access:
   * 'versions'`.) */
  holdsKeyPairs: boolean;
  /** Where it is, for `config check` ("SSM eu-west-1"). */
  describe(cfg: z.infer<S>): string;
  /** Why `name` (resolved for an environment) is not a secret name of store `storeName`, as the
   * end of "NAME is not ..."; undefined when it is one. */
  nameProblem(name: string, storeName: string): string | undefined;
  /** Makes its paths absolute: relative ones are relative to rekey.yaml. */
  resolvePaths?(cfg: z.infer<S>, resolve: (path: string) => string): void;
  /** Where it keeps `name`, as the store itself tells places apart (two entries naming one vault
   * are one place); by default the entry's name and `name`. */
  place?(cfg: z.infer<S>, name: string): string;
  /** The places (`store\0name`) rekey's own access to it uses, and what each is: rotating one as
   * a recipe would lock rekey out. */
  ownPlaces?(storeName: string, cfg: z.infer<S>): { place: string; what: string }[];
  /** Values in it left from the shipped example (config check warns). */
  placeholders?(storeName: string, cfg: z.infer<S>): string[];
}

/** Declares a store kind (keeps `S` for its callbacks' types). */
export const storeKind = <S extends StoreSection>(kind: StoreKind<S>): StoreKind<S> => kind;
