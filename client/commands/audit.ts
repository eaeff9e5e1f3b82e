// rekey audit image: secrets baked into a container image's config (layer history and Env).
import { CliError } from '../cli-error';
import { auditImages, type Finding } from '../image-audit';
import { readImages } from '../image-reader';
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
  let findings: Finding[];
  try {
    findings = auditImages(await readImages(path));
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
\`docker save\` tarball (gzipped or not; \`docker save IMAGE -o image.tar\`). Every image of the
archive and every platform of a multi-platform index is read; findings name it when there are
several.

Flags secret-like names with values (PASSWORD, SECRET, TOKEN, API_KEY, ...), known credential
shapes (GitHub, GitLab, npm, AWS, Stripe, Slack and Fly tokens, private keys, JWTs), credentials
in URLs, hex keys and high-entropy strings (base64 included). Each finding names the history
entry and its layer (or Env); values are never printed.

The archive is treated as untrusted: it is read as GNU tar would extract it, blobs must match
their digests, and it is refused (exit 2) past 10000 entries, a manifest or config over 4 MiB, or
gzip that inflates more than 100 times.

Exit 0 when nothing is found, 1 on findings (run it after every production build), 2 when PATH
is not an image.`,
  options: OPTIONS,
  positionals: 1,
  run: auditImage,
};
