// AWS SSM Parameter Store: SecureString parameters, for secret recipes (`secrets:`).
import { z } from 'zod';
import { storeKind } from '../kind';

export const AwsSsmSection = z.strictObject({
  type: z.literal('aws-ssm'),
  region: z.string().min(1),
  /** Another endpoint than AWS's (a VPC endpoint, or moto in tests). */
  endpoint: z.url().optional(),
  /** The KMS key that encrypts the SecureStrings; default: the account's aws/ssm key. */
  kmsKeyId: z.string().optional(),
  /** Another CloudTrail endpoint than AWS's, where `rekey respond` looks up who read a parameter
   * (a VPC endpoint, or a stand-in in tests). */
  cloudTrailEndpoint: z.url().optional(),
});
export type AwsSsmConfig = z.infer<typeof AwsSsmSection>;

/** Parameter names: a path of letters, digits and . - _ segments (AWS's rule, 1011 chars). */
export const PARAMETER_NAME = /^\/?[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

export const awsSsm = storeKind({
  schema: AwsSsmSection,
  access: 'versions',
  holdsKeyPairs: false,
  describe: (cfg) => `SSM ${cfg.region}`,
  nameProblem: (name) =>
    PARAMETER_NAME.test(name) ? undefined : 'a parameter name (a path of letters, digits, . - _)',
});
