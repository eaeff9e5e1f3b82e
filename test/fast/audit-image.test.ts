// rekey audit image against small images built here as files: a `docker save` tarball (plain and
// gzipped) and an OCI image layout directory, one clean and one with secrets baked into its
// layer history and Env. The CLI's exit code says which; the output names the history entry and
// layer and never the value.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { entropy, untar } from '../../client/image-audit';
import { rekeyAsync } from '../helpers';

/** A ustar archive of `files` (what docker save writes). */
function tar(files: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const body = Buffer.from(content);
    const h = Buffer.alloc(512);
    h.write(name, 0, 100);
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    const sum = h.reduce((a, b) => a + b, 0);
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    parts.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const BASE = `/bin/sh -c #(nop) ADD file:${sha('rootfs')} in / `;
const GITHUB_TOKEN = `ghp_${'A1b2C3d4E5f6G7h8I9j0'.repeat(2)}`;
const DB_PASSWORD = 'Str0ng-P4ssw0rd-v4lue';
const NPM_TOKEN = 'npm_Zq8vR2mXk9LpW4tY7uB3nC6dF1gH5jS0';

function config(baked: boolean) {
  const history = [
    { created_by: BASE },
    { created_by: '/bin/sh -c #(nop)  CMD ["bash"]', empty_layer: true },
    { created_by: 'ENV NODE_ENV=production PUBLIC_KEY_PATH=/etc/app/jwt.pub', empty_layer: true },
    { created_by: 'ARG APP_VERSION=1.4.2', empty_layer: true },
    {
      created_by: baked
        ? `|1 NPM_TOKEN=${NPM_TOKEN} /bin/sh -c npm ci --omit=dev`
        : '|1 NPM_TOKEN= /bin/sh -c npm ci --omit=dev',
    },
    {
      created_by: baked
        ? `RUN /bin/sh -c curl -fsSL -H "Authorization: token ${GITHUB_TOKEN}" https://api.github.com/repos/acme/assets/tarball | tar xz`
        : 'RUN /bin/sh -c curl -fsSL https://example.com/assets.tgz | tar xz',
    },
  ];
  const env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin', 'NODE_ENV=production'];
  if (baked) env.push(`DB_PASSWORD=${DB_PASSWORD}`);
  else env.push('DB_PASSWORD_FILE=/run/secrets/db_password');
  return JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: env }, history });
}

/** A `docker save` archive of one image. */
function dockerSave(baked: boolean): Buffer {
  const cfg = config(baked);
  const layer = tar({ 'app/index.js': 'console.log(1)' });
  return tar({
    [`${sha(cfg)}.json`]: cfg,
    [`${sha(layer)}/layer.tar`]: layer,
    'manifest.json': JSON.stringify([
      { Config: `${sha(cfg)}.json`, RepoTags: ['musehub:latest'], Layers: [`${sha(layer)}/layer.tar`] },
    ]),
  });
}

/** An OCI image layout directory (index -> manifest -> config). */
function ociLayout(dir: string, baked: boolean): string {
  const cfg = config(baked);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: `sha256:${sha(cfg)}`,
      size: cfg.length,
    },
    layers: [],
  });
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'blobs', 'sha256', sha(cfg)), cfg);
  writeFileSync(join(dir, 'blobs', 'sha256', sha(manifest)), manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}` },
      ],
    }),
  );
  return dir;
}

describe('rekey audit image', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-audit-'));

  it('a docker save tarball with secrets in its history and Env: exit 1, each named by entry and layer, no value shown', async () => {
    const path = join(dir, 'baked.tar');
    writeFileSync(path, dockerSave(true));
    const r = await rekeyAsync(['audit', 'image', path]);
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.stdout,
      /history 5 \(layer 2\): secret-like name NPM_TOKEN with a value\n {4}\|1 NPM_TOKEN=\[36 chars, not shown\] \/bin\/sh -c npm ci/,
    );
    assert.match(r.stdout, /history 6 \(layer 3\): a GitHub token/);
    assert.match(
      r.stdout,
      /config Env: secret-like name DB_PASSWORD with a value\n {4}DB_PASSWORD=\[21 chars, not shown\]/,
    );
    assert.equal(r.stdout.match(/^\S+: (history|config)/gm)?.length, 3, r.stdout);
    for (const secret of [GITHUB_TOKEN, DB_PASSWORD, NPM_TOKEN]) assert.ok(!r.out.includes(secret));
  });

  it('the same image clean (an empty build arg, a _FILE reference, a digest, a public key path): exit 0', async () => {
    const path = join(dir, 'clean.tar');
    writeFileSync(path, dockerSave(false));
    const r = await rekeyAsync(['audit', 'image', path]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.stdout, /no secret found in the layer history or Env/);
  });

  it('reads gzipped archives and OCI layouts; JSON on request', async () => {
    const gz = join(dir, 'baked.tar.gz');
    writeFileSync(gz, gzipSync(dockerSave(true)));
    assert.equal((await rekeyAsync(['audit', 'image', gz])).code, 1);
    const oci = await rekeyAsync(['audit', 'image', ociLayout(join(dir, 'oci-baked'), true), '--json']);
    assert.equal(oci.code, 1, oci.out);
    const report = JSON.parse(oci.stdout) as { findings: { where: string }[] };
    assert.deepEqual(
      report.findings.map((f) => f.where),
      ['history 5 (layer 2)', 'history 6 (layer 3)', 'config Env'],
    );
    assert.equal((await rekeyAsync(['audit', 'image', ociLayout(join(dir, 'oci-clean'), false)])).code, 0);
  });

  it('something that is not an image: exit 2 saying what it is not', async () => {
    const path = join(dir, 'notes.tar');
    writeFileSync(path, tar({ 'README.md': '# hello' }));
    const r = await rekeyAsync(['audit', 'image', path]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /neither a docker save archive \(manifest\.json\) nor an OCI layout \(index\.json\)/,
    );
    assert.equal((await rekeyAsync(['audit', 'image', join(dir, 'missing.tar')])).code, 2);
  });

  it('helpers: the tar reader and the entropy measure', () => {
    assert.deepEqual([...untar(tar({ 'a.txt': 'x', 'b/c.txt': 'yz' })).keys()], ['a.txt', 'b/c.txt']);
    assert.ok(entropy(NPM_TOKEN) > 4);
    assert.ok(entropy('production-environment') < 4);
  });
});
