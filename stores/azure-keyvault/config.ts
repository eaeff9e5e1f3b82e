// Azure Key Vault: a store of key pairs, keyrings and recipes' values, every version kept.
import { z } from 'zod';
import { storeKind } from '../kind';

export const AzureKeyVaultSection = z.strictObject({
  type: z.literal('azure-keyvault'),
  vaultUrl: z.url({ protocol: /^https$/ }),
  /** Pin the Key Vault REST API version (emulators may support an older one). */
  serviceVersion: z.string().optional(),
  /** How to get a token: the Azure CLI's login (`az login`, as the guide does), the
   * AZURE_* environment variables, a managed identity, or DefaultAzureCredential's chain. */
  credential: z.enum(['azure-cli', 'environment', 'managed-identity', 'default']).default('azure-cli'),
  /** Check that Key Vault's auth challenge names a Key Vault resource. Turn off only for an
   * emulator served under another host name. */
  verifyChallengeResource: z.boolean().default(true),
});
export type AzureKeyVaultConfig = z.infer<typeof AzureKeyVaultSection>;

/** Key Vault's secret names: letters, digits and "-". */
export const secretNameProblem = (name: string, type: string, storeName: string) =>
  /^[A-Za-z0-9-]+$/.test(name)
    ? undefined
    : `a secret name for ${type} store ${storeName} (letters, digits and -)`;

export const azureKeyVault = storeKind({
  schema: AzureKeyVaultSection,
  access: 'versions',
  holdsKeyPairs: true,
  describe: (cfg) => cfg.vaultUrl,
  nameProblem: (name, storeName) => secretNameProblem(name, 'azure-keyvault', storeName),
  // A vault is its URL whatever entry names it, and its secret names ignore case.
  place: (cfg, name) => `${cfg.vaultUrl.toLowerCase().replace(/\/+$/, '')}\0${name.toLowerCase()}`,
  placeholders: (storeName, cfg) =>
    /^https:\/\/kv-(prod|test|dev)\.vault\.azure\.net\/?$/.test(cfg.vaultUrl)
      ? [`stores.${storeName}.vaultUrl ${cfg.vaultUrl} is the example's: set your vault's URL`]
      : [],
});
