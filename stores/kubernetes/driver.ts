// A key of a Kubernetes Secret, edited in place, as a recipe's location.
import type { StoreDriver } from '../types';
import { KubernetesClient, secretKeyOf } from './client';
import type { KubernetesConfig } from './config';

export const driver: StoreDriver<KubernetesConfig> = {
  place: (storeName, cfg, name, ctx) => {
    const kube = new KubernetesClient(storeName, cfg, ctx.secret(cfg.token));
    const { secret, key } = secretKeyOf(name);
    return {
      marker: 'write-only',
      text: `set key ${key} of Kubernetes Secret ${cfg.namespace}/${secret} in place`,
      // The plan's check: there, and this token may patch it (a dry run), before any change.
      exists: async () => {
        if (!(await kube.exists(name))) return false;
        await kube.mayPatch(secret);
        return true;
      },
      set: (value) => kube.set(name, value),
    };
  },
};
