// A file store: one JSON file per secret holding every version, for `local` and the quickstart.
import { z } from 'zod';
import { secretNameProblem } from '../azure-keyvault/config';
import { storeKind } from '../kind';

export const FileSection = z.strictObject({
  type: z.literal('file'),
  /** Directory holding one JSON file per secret, all versions inside. Relative to rekey.yaml. */
  dir: z.string().min(1),
});
export type FileStoreConfig = z.infer<typeof FileSection>;

export const fileStore = storeKind({
  schema: FileSection,
  access: 'versions',
  holdsKeyPairs: true,
  describe: (cfg) => `file ${cfg.dir}`,
  // The same names as Key Vault: a config moves from one to the other unchanged.
  nameProblem: (name, storeName) => secretNameProblem(name, 'file', storeName),
  resolvePaths: (cfg, resolve) => {
    cfg.dir = resolve(cfg.dir);
  },
  place: (cfg, name) => `${cfg.dir}\0${name}`,
});
