// Every store type rekey knows, by its `type` in rekey.yaml: the registry of the pure halves. A new
// store type is a folder here (config.ts and driver.ts) and one line in KINDS; drivers.ts then
// does not compile until it has the new type's driver too.
import { z } from 'zod';
import { awsSsm } from './aws-ssm/config';
import { azureKeyVault } from './azure-keyvault/config';
import { commandStore } from './command/config';
import { fileStore } from './file/config';
import { githubActions } from './github-actions/config';
import type { StoreKind, StoreSection } from './kind';
import { kubernetes } from './kubernetes/config';
import { postgres } from './postgres/config';

// In the order rekey.schema.json lists them.
const KINDS = [azureKeyVault, fileStore, awsSsm, postgres, githubActions, commandStore, kubernetes] as const;

type Schemas<T extends readonly StoreKind<StoreSection>[]> = { [I in keyof T]: T[I]['schema'] };

/** A `stores:` entry of rekey.yaml. */
export const Store = z.discriminatedUnion(
  'type',
  KINDS.map((k) => k.schema) as unknown as Schemas<typeof KINDS>,
);
export type StoreConfig = z.infer<typeof Store>;
export type StoreType = StoreConfig['type'];
/** The config of a store of type `T`. */
export type StoreOf<T extends StoreType> = Extract<StoreConfig, { type: T }>;

/** A kind seen from outside its folder: its callbacks take any store's config (kindOf gives each
 * store its own kind). */
export type AnyStoreKind = Pick<StoreKind, 'schema' | 'access' | 'holdsKeyPairs' | 'nameProblem'> & {
  describe(cfg: StoreConfig): string;
  resolvePaths?(cfg: StoreConfig, resolve: (path: string) => string): void;
  place?(cfg: StoreConfig, name: string): string;
  ownPlaces?(storeName: string, cfg: StoreConfig): { place: string; what: string }[];
  placeholders?(storeName: string, cfg: StoreConfig): string[];
};

/** Each type's kind, by its name. */
export const STORE_KINDS = Object.fromEntries(
  KINDS.map((k) => [k.schema.shape.type.value, k]),
) as unknown as Record<StoreType, AnyStoreKind>;

/** The kind of a configured store. */
export const kindOf = (cfg: StoreConfig): AnyStoreKind => STORE_KINDS[cfg.type];

/** Where store `storeName` keeps secret `name` (see StoreKind.place). */
export function secretPlace(storeName: string, cfg: StoreConfig | undefined, name: string): string {
  return (cfg && kindOf(cfg).place?.(cfg, name)) ?? `${storeName}\0${name}`;
}

/** A store rekey cannot read back every version of: never a key pair's, keyring's or codec's. */
export const isWriteOnly = (cfg: StoreConfig | undefined) =>
  cfg !== undefined && kindOf(cfg).access !== 'versions';
