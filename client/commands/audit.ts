// rekey audit image: secrets baked into a container image's config (layer history and Env).
import { CliError } from '../cli-error';
import { auditConfig, readImageConfig } from '../image-audit';
import { type Command, type Options, parse } from './common';

const OPTIONS = { json: { type: 'boolean' } } satisfies Options;

async function auditImage(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 1);
  const path = positionals[0];
  if (!path)
    throw new CliError(
      'rekey audit image: name the image (an OCI layout directory or a docker save tarball)',
      2,
    );
  let findings: ReturnType<typeof auditConfig>;
  try {
    findings = auditConfig(readImageConfig(path));
  } catch (err) {
    throw new CliError(`rekey audit image: ${(err as Error).message}`, 2);
  }
  if (values.json) console.log(JSON.stringify({ image: path, findings }, null, 2));
  else if (!findings.length) console.log(`${path}: no secret found in the layer history or Env`);
  else for (const f of findings) console.log(`${path}: ${f.where}: ${f.why}\n    ${f.line}`);
  return findings.length ? 1 : 0;
}

export const image: Command = {
  usage: `rekey audit image PATH [--json]

Read-only, no Temporal: looks for secrets baked into a container image, in what anyone who can
pull it can read: the command that made each layer (history: RUN, ARG and ENV lines with their
values) and the image's environment (config Env). PATH is an OCI image layout directory, or a
\`docker save\` tarball (gzipped or not; \`docker save IMAGE -o image.tar\`).

Flags secret-like names with values (PASSWORD, SECRET, TOKEN, API_KEY, ...), known credential
shapes (GitHub, AWS, Stripe, Slack and Fly tokens, private keys, JWTs) and high-entropy strings.
Each finding names the history entry and its layer (or Env); values are never printed.

Exit 0 when nothing is found, 1 on findings (run it after every production build), 2 when PATH
is not an image.`,
  options: OPTIONS,
  positionals: 1,
  run: auditImage,
};
