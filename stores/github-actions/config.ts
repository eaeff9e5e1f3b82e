// A GitHub repository's Actions secrets (a location `{store, name: FLY_API_TOKEN}`). Write-only:
// GitHub never gives a value back.
import { z } from 'zod';
import { accessPlace, SecretReference } from '../access-secret';
import { storeKind } from '../kind';

export const GitHubActionsSection = z.strictObject({
  type: z.literal('github-actions'),
  repository: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'owner/name'),
  /** GitHub Enterprise Server: https://HOST/api/v3. */
  api: z.url({ protocol: /^https$/ }).default('https://api.github.com'),
  /** A token that may write the repository's secrets (fine-grained: "Secrets" read and write). */
  token: SecretReference,
});
export type GitHubActionsConfig = z.infer<typeof GitHubActionsSection>;

export const githubActions = storeKind({
  schema: GitHubActionsSection,
  access: 'write-only',
  holdsKeyPairs: false,
  describe: () => 'github-actions (write-only)',
  nameProblem: (name) =>
    /^(?!GITHUB_)(?![0-9])[A-Za-z0-9_]+$/i.test(name)
      ? undefined
      : 'a GitHub Actions secret name (letters, digits and _, not starting with a digit or GITHUB_)',
  ownPlaces: (storeName, cfg) =>
    accessPlace(cfg.token).map((place) => ({ place, what: `the token of ${storeName}` })),
});
