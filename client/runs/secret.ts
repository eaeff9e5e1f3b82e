// Starting a secret recipe's rotation (rotateSecret), or one over an environment's secrets
// (rotateSecrets).
import type { Client } from '@temporalio/client';
import { starterConfigOf } from '../../config/run-config';
import type { Config } from '../../config/schema';
import { closest } from '../../config/suggest';
import { rotateSecret, rotateSecrets } from '../../workflows';
import {
  RotateSecretInput,
  RotateSecretsInput,
  secretsWorkflowId,
  secretWorkflowId,
} from '../../workflows/inputs';
import { type Requester, startOnce, withRequester } from './common';
import { RequestRefused } from './errors';

/** Refuses, before anything starts, a secret or environment the config does not have for it. */
export function checkSecret(config: Config, secret: string, env: string): void {
  const recipe = config.secrets[secret];
  if (!recipe) {
    const known = Object.keys(config.secrets);
    const guess = closest(secret, known);
    throw new RequestRefused(
      `unknown secret "${secret}"${guess ? `; did you mean "${guess}"?` : ''} (secrets: ${known.join(', ') || 'none in the config'})`,
    );
  }
  if (!recipe.environments.includes(env))
    throw new RequestRefused(
      `secret ${secret} is not rotated in environment "${env}" (its environments: ${recipe.environments.join(', ')})`,
    );
}
export async function startSecretRotation(
  client: Client,
  config: Config,
  raw: RotateSecretInput,
  opts: { as?: Requester; taskQueue?: string } = {},
) {
  const input = RotateSecretInput.parse(raw);
  checkSecret(config, input.secret, input.environment);
  return startOnce(client, rotateSecret, {
    workflowId: secretWorkflowId(input.secret, input.environment),
    args: [
      withRequester(
        config,
        'rotateSecret',
        {
          ...raw,
          starterConfig: starterConfigOf(config, {
            kind: 'secret',
            secret: input.secret,
            environment: input.environment,
          }),
        },
        [input.environment],
        opts.as,
        {
          workflowId: secretWorkflowId(input.secret, input.environment),
        },
      ),
    ],
    taskQueue: opts.taskQueue,
    what: `a rotation of secret ${input.secret} in ${input.environment}`,
    summary: `${input.dryRun ? 'plan: ' : ''}${input.init ? 'first value of' : 'rotate'} secret ${input.secret} in ${input.environment}`,
  });
}

/** Starts the run over `environment`'s secrets (those due, or all) under its business id. */
export async function startSecretsRotation(
  client: Client,
  config: Config,
  raw: RotateSecretsInput,
  opts: { as?: Requester; taskQueue?: string } = {},
) {
  const input = RotateSecretsInput.parse(raw);
  const env = input.environment;
  if (!(env in config.environments)) throw new RequestRefused(`unknown environment "${env}"`);
  const workflowId = secretsWorkflowId(env);
  return startOnce(client, rotateSecrets, {
    workflowId,
    args: [
      withRequester(
        config,
        'rotateSecrets',
        { ...raw, starterConfig: starterConfigOf(config, { kind: 'secrets', environment: env }) },
        [env],
        opts.as,
        { workflowId },
      ),
    ],
    taskQueue: opts.taskQueue,
    what: `a run over the secrets of ${env}`,
    summary: `${input.dryRun ? 'plan: ' : ''}rotate every secret ${input.select === 'due' ? 'due ' : ''}in ${env}`,
  });
}
