// Every store type's SDK half, by its `type`: a store of versions rekey opens, or a place it only
// writes. Typed by the registry of kinds (kinds.ts): a type without a driver here does not compile.
import { FailureType, fail } from '../shared/failures';
import type { AccessSecret } from './access-secret';
import { driver as awsSsm } from './aws-ssm/driver';
import { driver as azureKeyVault } from './azure-keyvault/driver';
import { driver as command } from './command/driver';
import { driver as file } from './file/driver';
import { driver as githubActions } from './github-actions/driver';
import { STORE_KINDS, type StoreConfig, type StoreOf, type StoreType } from './kinds';
import { driver as kubernetes } from './kubernetes/driver';
import { driver as postgres } from './postgres/driver';
import type { PlaceContext, SecretStore, SecretStoreOptions, StoreDriver, WriteOnlyPlace } from './types';

export const STORE_DRIVERS: { [T in StoreType]: StoreDriver<StoreOf<T>> } = {
  'azure-keyvault': azureKeyVault,
  file,
  'aws-ssm': awsSsm,
  postgres,
  'github-actions': githubActions,
  command,
  kubernetes,
};

const driverOf = (cfg: StoreConfig) => STORE_DRIVERS[cfg.type] as StoreDriver<StoreConfig>;

/** A store rekey reads back; refused for a place it only writes. */
export function createSecretStore(
  storeName: string,
  cfg: StoreConfig,
  opts: SecretStoreOptions = {},
): SecretStore {
  const d = driverOf(cfg);
  if ('open' in d) return d.open(storeName, cfg, opts);
  throw fail(
    FailureType.BadInput,
    `store ${storeName} (${cfg.type}) ${STORE_KINDS[cfg.type].access === 'no-versions' ? 'keeps no versions' : 'is write-only: rekey sets values there but cannot read them back'} (use it as a secret recipe's location after the first)`,
  );
}

/** Secret `name` of a write-only store; undefined for a store of versions. */
export function writeOnlyPlace(
  storeName: string,
  cfg: StoreConfig,
  name: string,
  ctx: PlaceContext,
): WriteOnlyPlace | undefined {
  const d = driverOf(cfg);
  return 'place' in d ? d.place(storeName, cfg, name, ctx) : undefined;
}

/** A store's access secret, read when used: from the environment or another store. */
export const referencedSecret =
  (store: string, from: AccessSecret, storeOf: (name: string) => SecretStore) =>
  async (): Promise<string> => {
    if ('env' in from) {
      const v = process.env[from.env];
      if (v === undefined) throw fail(FailureType.BadInput, `store ${store}: $${from.env} is not set`);
      return v;
    }
    return (await storeOf(from.store).get(from.name)).value;
  };

/** One SecretStore per configured store (rekey.yaml's `stores:`), built on first use. */
export function storeRegistry(configured: Record<string, StoreConfig>): (name: string) => SecretStore {
  const stores = new Map<string, SecretStore>();
  return (name) => {
    let store = stores.get(name);
    if (!store) {
      const cfg = configured[name];
      if (!cfg) throw new Error(`unknown store "${name}"`);
      store = createSecretStore(name, cfg);
      stores.set(name, store);
    }
    return store;
  };
}
