// rekey audit image against small images built here as files: a `docker save` tarball (plain and
// gzipped) and an OCI image layout directory, one clean and one with secrets baked into its
// layer history and Env. The CLI's exit code says which; the output names the history entry and
// layer and never the value.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { entropy } from '../../client/image-audit';
import { rekeyAsync } from '../helpers';

/** One tar entry: a ustar header (type `type`, size field `sizeField`), the body, padding. */
function entry(name: string, body: Buffer, type = '0', sizeField?: string | Buffer, link = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  if (Buffer.isBuffer(sizeField)) sizeField.copy(h, 124);
  else h.write(sizeField ?? `${body.length.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write(link, 157, 100);
  h.write('ustar\0', 257);
  h.write('00', 263);
  const sum = h.reduce((a, b) => a + b, 0);
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return Buffer.concat([h, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

/** A pax extended header record list ("%d key=value\n", the length counting itself). */
function pax(records: Record<string, string>, type = 'x'): Buffer {
  const lines = Object.entries(records).map(([k, v]) => {
    const rest = ` ${k}=${v}\n`;
    let n = rest.length + 1;
    while (`${n}${rest}`.length !== n) n++;
    return `${n}${rest}`;
  });
  return entry('PaxHeaders/x', Buffer.from(lines.join('')), type);
}

/** A ustar archive of `files` (what docker save writes), or of raw entries. */
function tar(files: Record<string, string | Buffer> | Buffer[]): Buffer {
  const parts = Array.isArray(files)
    ? files
    : Object.entries(files).map(([name, content]) => entry(name, Buffer.from(content)));
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
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
  after(() => rmSync(dir, { recursive: true, force: true }));

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

  it('more shapes: a hex key, base64 with a slash, credentials in a URL', async () => {
    const hexKey = 'a3f9c2e87b1d4056f2e9a8c7b3d1e0f4';
    const b64 = 'q8Zr/2mXk9LpW4tY7uB+3nC6dF1gH5jS0aB9';
    const lines = [
      `RUN /bin/sh -c curl -H "X-Api: ${hexKey}" https://api.example.com/x`,
      `RUN /bin/sh -c echo ${b64} > /etc/app/seed`,
      'RUN /bin/sh -c git clone https://deploy:Sup3rS3cret@git.example.com/acme/app.git',
    ];
    const path = join(dir, 'shapes.tar');
    writeFileSync(path, dockerSaveOf([{ history: lines.map((created_by) => ({ created_by })) }]));
    const r = await rekeyAsync(['audit', 'image', path, '--json']);
    assert.equal(r.code, 1, r.out);
    const report = JSON.parse(r.stdout) as { findings: { where: string; why: string }[] };
    assert.deepEqual(
      report.findings.map((f) => f.where),
      ['history 1 (layer 1)', 'history 2 (layer 2)', 'history 3 (layer 3)'],
      r.stdout,
    );
    assert.match(report.findings[2]?.why ?? '', /credentials in a URL/);
    for (const secret of [hexKey, b64, 'Sup3rS3cret']) assert.ok(!r.out.includes(secret), secret);
    // Digests and paths stay quiet.
    const quiet = join(dir, 'quiet.tar');
    writeFileSync(
      quiet,
      dockerSaveOf([
        {
          history: [
            { created_by: `/bin/sh -c #(nop) ADD file:${sha('x')} in /` },
            {
              created_by: `COPY --from=builder@sha256:${sha('y')} /app/node_modules/.bin /usr/local/lib/App2`,
            },
          ],
        },
      ]),
    );
    const q = await rekeyAsync(['audit', 'image', quiet]);
    assert.equal(q.code, 0, q.out);
  });

  it('a private key is masked whole, and every occurrence of every token', async () => {
    // A key made for this run, as a PEM block with its real line breaks.
    const pem = generateKeyPairSync('ed25519')
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString()
      .trim();
    const body = pem.split('\n').slice(1, -1);
    const aws = ['AKIAIOSFODNN7EXAMPLE', 'AKIAJ2EXAMPLEKEY0001'];
    const path = join(dir, 'pem.tar');
    writeFileSync(
      path,
      dockerSaveOf([
        {
          history: [
            { created_by: `RUN /bin/sh -c printf '${pem}' > /k.pem && echo ${aws[0]} && echo ${aws[1]}` },
            { created_by: 'RUN /bin/sh -c echo \u001b[2J cleared' },
          ],
          config: {
            Cmd: ['run', `--token=${GITHUB_TOKEN}`],
            Labels: { 'org.example.deploy-token': DB_PASSWORD },
          },
        },
      ]),
    );
    const r = await rekeyAsync(['audit', 'image', path]);
    assert.equal(r.code, 1, r.out);
    for (const secret of [...body, ...aws, GITHUB_TOKEN, DB_PASSWORD])
      assert.ok(!r.out.includes(secret), secret);
    assert.match(r.stdout, /config Cmd: a GitHub token/);
    assert.match(r.stdout, /config Labels: /);
    assert.ok(!r.out.includes('\u001b'), 'no escape sequence reaches the terminal');
  });

  it('the entropy measure', () => {
    assert.ok(entropy(NPM_TOKEN) > 4);
    assert.ok(entropy('production-environment') < 4);
  });
});

/** A docker save archive of several images (each config as given). */
function dockerSaveOf(configs: object[]): Buffer {
  const files: Record<string, string> = {};
  const manifest = configs.map((c, i) => {
    const cfg = JSON.stringify(c);
    files[`${sha(cfg)}.json`] = cfg;
    return { Config: `${sha(cfg)}.json`, RepoTags: [`app${i}:latest`], Layers: [] };
  });
  return tar({ ...files, 'manifest.json': JSON.stringify(manifest) });
}

/** An OCI layout whose index lists one manifest per platform (each config as given). */
function ociPlatforms(
  dir: string,
  platforms: Record<string, string>,
  digestOf?: (d: string) => string,
): string {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const blob = (text: string) => {
    writeFileSync(join(dir, 'blobs', 'sha256', sha(text)), text);
    return `sha256:${sha(text)}`;
  };
  const manifests = Object.entries(platforms).map(([platform, cfg]) => {
    const [os, architecture] = platform.split('/');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blob(cfg), size: cfg.length },
      layers: [],
    });
    const digest = blob(manifest);
    return {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: digestOf ? digestOf(digest) : digest,
      platform: { os, architecture },
    };
  });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
  return dir;
}

// Archives crafted to make a reader see something other than what docker, GNU tar and Python see,
// or to make it loop, exhaust memory or read outside the image. Each is refused or reported.
describe('rekey audit image: crafted archives', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-audit-crafted-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a pax size header: rekey reads the archive GNU tar reads (the baked manifest, not the decoy)', async () => {
    const baked = config(true);
    const clean = config(false);
    const manifest = (cfg: string) => JSON.stringify([{ Config: `${sha(cfg)}.json`, Layers: [] }]);
    // The decoy manifest sits inside the body of an entry whose pax size covers it: a reader that
    // ignores pax `size` takes the decoy as an entry of its own, after the real manifest.
    const decoy = entry('manifest.json', Buffer.from(manifest(clean)));
    const path = join(dir, 'pax-size.tar');
    writeFileSync(
      path,
      tar([
        entry(`${sha(baked)}.json`, Buffer.from(baked)),
        entry(`${sha(clean)}.json`, Buffer.from(clean)),
        entry('manifest.json', Buffer.from(manifest(baked))),
        pax({ size: String(decoy.length) }),
        entry('padding', decoy, '0', `${'0'.repeat(11)}\0`),
      ]),
    );
    // The oracle: GNU tar extracts the manifest that names the baked config.
    const out = mkdtempSync(join(dir, 'gnu-'));
    execFileSync('tar', ['-xf', path, '-C', out]);
    assert.equal(readFileSync(join(out, 'manifest.json'), 'utf8'), manifest(baked));
    const r = await rekeyAsync(['audit', 'image', path]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stdout, /a GitHub token/);
  });

  it('a negative size field, in octal or base-256: refused (it used to loop forever)', async () => {
    const base256 = Buffer.alloc(12, 0xff); // -256
    base256[11] = 0;
    for (const [file, field] of [
      ['negative.tar', '-0000001000\0'],
      ['negative256.tar', base256],
    ] as const) {
      const path = join(dir, file);
      writeFileSync(path, tar([entry('manifest.json', Buffer.from('[]'), '0', field)]));
      const r = await rekeyAsync(['audit', 'image', path]);
      assert.equal(r.code, 2, r.out);
      assert.match(
        r.stderr,
        new RegExp(`${file}: not a valid tar archive \\(manifest\\.json has no valid size\\)`),
      );
    }
  });

  it('a gzip bomb: refused once it inflates past the ratio limit', async () => {
    const path = join(dir, 'bomb.tar.gz');
    writeFileSync(path, gzipSync(tar([entry('layer.tar', Buffer.alloc(256 << 20))]), { level: 1 }));
    const r = await rekeyAsync(['audit', 'image', path]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.stderr, /bomb\.tar\.gz: decompresses to more than 100 times its size/);
  });

  it('an entry too large to be a config, and too many entries: refused, naming the limit', async () => {
    const big = join(dir, 'big.tar');
    writeFileSync(big, tar({ 'manifest.json': Buffer.alloc(5 << 20, 0x20) }));
    const r = await rekeyAsync(['audit', 'image', big]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.stderr, /big\.tar: manifest\.json is larger than 4 MiB/);
    const many = join(dir, 'many.tar');
    writeFileSync(many, tar(Array.from({ length: 10_001 }, (_, i) => entry(`f${i}`, Buffer.alloc(0)))));
    const m = await rekeyAsync(['audit', 'image', many]);
    assert.equal(m.code, 2, m.out);
    assert.match(m.stderr, /many\.tar: more than 10000 entries/);
  });

  it("an OCI digest with '../': refused before any path is built (the file outside is not read)", async () => {
    const layout = join(dir, 'escape', 'layout');
    ociPlatforms(layout, { 'linux/amd64': config(false) }, () => 'sha256/../../../outside');
    // What the escaping digest points at: an image config with a secret, outside the layout.
    writeFileSync(
      join(dir, 'escape', 'outside'),
      JSON.stringify({ config: { Env: [`DB_PASSWORD=${DB_PASSWORD}`] }, history: [] }),
    );
    const r = await rekeyAsync(['audit', 'image', layout]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.stderr, /index\.json: manifests\[0\]\.digest is not a digest/);
  });

  it('a blob whose content does not match its digest: refused', async () => {
    const layout = ociPlatforms(join(dir, 'tampered'), { 'linux/amd64': config(false) });
    const cfg = config(false);
    writeFileSync(join(layout, 'blobs', 'sha256', sha(cfg)), config(true));
    const r = await rekeyAsync(['audit', 'image', layout]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.stderr, new RegExp(`blobs/sha256/${sha(cfg)} does not match its digest`));
  });

  it('a config hidden from one reader or another is audited all the same: links, odd names, a global path, a PAX sparse file, a second layout', async () => {
    const baked = config(true);
    const clean = config(false);
    const manifestOf = (cfg: string) =>
      Buffer.from(JSON.stringify([{ Config: `${sha(cfg)}.json`, Layers: [] }]));
    const files = [
      entry(`${sha(clean)}.json`, Buffer.from(clean)),
      entry('manifest.json', manifestOf(clean)),
    ];
    // PAX 1.0 sparse: one chunk covering the whole file, the map first, padded to a block.
    const sparse = Buffer.concat([
      Buffer.from(`1\n0\n${baked.length}\n`),
      Buffer.alloc(512 - `1\n0\n${baked.length}\n`.length),
    ]);
    const cases: Record<string, Buffer[]> = {
      'hard-link.tar': [
        ...files,
        entry(`${sha(baked)}.json`, Buffer.from(baked)),
        entry('real.json', manifestOf(baked)),
        entry('manifest.json', Buffer.alloc(0), '1', undefined, 'real.json'),
      ],
      'odd-name.tar': [
        ...files,
        entry(`${sha(baked)}.json`, Buffer.from(baked)),
        entry('.//manifest.json', manifestOf(baked)),
      ],
      // GNU tar names every later entry manifest.json (node-tar ignores a global path).
      'global-path.tar': [
        ...files,
        entry(`${sha(baked)}.json`, Buffer.from(baked)),
        pax({ path: 'manifest.json' }, 'g'),
        entry('x', manifestOf(baked)),
      ],
      'sparse.tar': [
        ...files,
        pax({
          'GNU.sparse.major': '1',
          'GNU.sparse.minor': '0',
          'GNU.sparse.name': `${sha(baked)}.json`,
          'GNU.sparse.realsize': String(baked.length),
        }),
        entry(`GNUSparseFile.0/${sha(baked)}.json`, Buffer.concat([sparse, Buffer.from(baked)])),
      ],
    };
    for (const [file, parts] of Object.entries(cases)) {
      const path = join(dir, file);
      writeFileSync(path, tar(parts));
      const r = await rekeyAsync(['audit', 'image', path]);
      assert.equal(r.code, 1, `${file}: ${r.out}`);
      assert.match(r.stdout, /a GitHub token/, file);
    }
    // Both layouts in one directory: docker's manifest.json names the clean config, the OCI index
    // (what containerd imports when oci-layout is there) the baked one.
    const both = ociPlatforms(join(dir, 'both'), { 'linux/amd64': baked });
    writeFileSync(join(both, `${sha(clean)}.json`), clean);
    writeFileSync(join(both, 'manifest.json'), manifestOf(clean));
    const r = await rekeyAsync(['audit', 'image', both]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stdout, /linux\/amd64: history 6 \(layer 3\): a GitHub token/);
  });

  it('entries GNU tar extracts but this reader would skip are refused; a layout is not read through links out of it', async () => {
    const path = join(dir, 'unknown-type.tar');
    writeFileSync(
      path,
      tar([entry('manifest.json', Buffer.from('[]')), entry('cfg.json', Buffer.from(config(true)), 'Z')]),
    );
    const r = await rekeyAsync(['audit', 'image', path]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.stderr, /cfg\.json has an entry type \(.*\) this reader skips and GNU tar extracts/);
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'victim.json'), config(true));
    const layout = join(dir, 'linked');
    mkdirSync(layout);
    symlinkSync(outside, join(layout, 'cfg'));
    writeFileSync(join(layout, 'manifest.json'), JSON.stringify([{ Config: 'cfg/victim.json' }]));
    const l = await rekeyAsync(['audit', 'image', layout]);
    assert.equal(l.code, 2, l.out);
    assert.match(l.stderr, /cfg\/victim\.json is missing or not JSON/);
  });

  it('a manifest naming more images than any archive holds is refused', async () => {
    const cfg = config(false);
    const path = join(dir, 'repeat.tar');
    const list = Array.from({ length: 400 }, () => ({ Config: `${sha(cfg)}.json` }));
    writeFileSync(path, tar({ [`${sha(cfg)}.json`]: cfg, 'manifest.json': JSON.stringify(list) }));
    const r = await rekeyAsync(['audit', 'image', path]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.stderr, /repeat\.tar: more than 256 images/);
  });

  it('every platform of an index and every image of a docker save archive is read', async () => {
    const layout = ociPlatforms(join(dir, 'multi'), {
      'linux/amd64': config(false),
      'linux/arm64': config(true),
    });
    const r = await rekeyAsync(['audit', 'image', layout]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stdout, /linux\/arm64: history 6 \(layer 3\): a GitHub token/);
    assert.doesNotMatch(r.stdout, /linux\/amd64/);
    const saved = join(dir, 'two.tar');
    writeFileSync(saved, dockerSaveOf([JSON.parse(config(false)), JSON.parse(config(true))]));
    const s = await rekeyAsync(['audit', 'image', saved]);
    assert.equal(s.code, 1, s.out);
    assert.match(s.stdout, /app1:latest: config Env: secret-like name DB_PASSWORD/);
    assert.doesNotMatch(s.stdout, /app0:latest/);
  });
});
