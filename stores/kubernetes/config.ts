// Keys of Kubernetes Secrets in one namespace (a location `{store, name: SECRET/KEY}`), each
// edited in place through the API server. Rekey reads no versions from it: never a recipe's first
// location.
import { z } from 'zod';
import { accessPlace, SecretReference } from '../access-secret';
import { storeKind } from '../kind';

export const KubernetesSection = z.strictObject({
  type: z.literal('kubernetes'),
  /** The API server, https://HOST:PORT. */
  server: z.url({ protocol: /^https$/ }),
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a namespace name'),
  /** A bearer token that may get and patch the Secrets (a service account's, say). */
  token: SecretReference,
  /** The CA certificate (PEM) the API server's certificate is checked against. */
  caFile: z.string().min(1),
});
export type KubernetesConfig = z.infer<typeof KubernetesSection>;

export const kubernetes = storeKind({
  schema: KubernetesSection,
  access: 'no-versions',
  holdsKeyPairs: false,
  describe: () => 'kubernetes (write-only)',
  nameProblem: (name, storeName) =>
    /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[-._a-zA-Z0-9]+$/.test(name)
      ? undefined
      : `SECRET/KEY (a Secret's name, "/", one of its keys) for kubernetes store ${storeName}`,
  ownPlaces: (storeName, cfg) =>
    accessPlace(cfg.token).map((place) => ({ place, what: `the token of ${storeName}` })),
});
