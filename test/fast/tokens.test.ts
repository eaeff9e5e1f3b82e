import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { parse } from 'smol-toml';
import { generateKeyPair, parsePrivateKey } from '../../activities/keys';
import { resignCliToml, resignToken, signedBy, tokenIdentity } from '../../activities/tokens';
import { namedFailure } from '../assertions';

const identity = {
  iss: 'localhost',
  sub: 'c200-publisher',
  aud: ['spacetimedb'],
  hex_identity: 'c200abcdef',
};

/** A year in the far future: a token that expires, but not while the suite lives. */
const EXP = 4_000_000_000;

async function token(privatePem: string, claims: Record<string, unknown> = identity, exp = true) {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).setIssuedAt(1_700_000_000);
  if (exp) jwt.setExpirationTime(EXP);
  return jwt.sign(parsePrivateKey(privatePem));
}

function toml(tok: string) {
  return `web_session_id = "abc"\nspacetimedb_token = "${tok}"\n\n[server_configs]\ndefault = "local"\n`;
}

describe('tokens', () => {
  it('re-signs with the new key keeping iss, sub, aud, hex_identity and exp; fresh iat', async () => {
    const oldKey = generateKeyPair();
    const newKey = generateKeyPair();
    const before = await token(oldKey.privatePem);
    const after = await resignToken(before, newKey.privatePem);
    const claims = decodeJwt(after);
    assert.equal(decodeProtectedHeader(after).alg, 'ES256');
    assert.equal(claims.iss, identity.iss);
    assert.equal(claims.sub, identity.sub);
    assert.deepEqual(claims.aud, identity.aud);
    assert.equal(claims.hex_identity, identity.hex_identity);
    assert.equal(claims.exp, EXP, 'a token that expires keeps expiring');
    assert.ok((claims.iat ?? 0) > 1_700_000_000);
    assert.equal(await signedBy(after, newKey.privatePem), true);
    assert.equal(await signedBy(after, oldKey.privatePem), false);
    assert.deepEqual(tokenIdentity(after), tokenIdentity(before));
  });

  it('keeps nbf; a token without exp (as spacetimedb-standalone issues them) gets none', async () => {
    const key = generateKeyPair();
    const withNbf = await new SignJWT(identity)
      .setProtectedHeader({ alg: 'ES256' })
      .setNotBefore(1_700_000_100)
      .setExpirationTime(EXP)
      .sign(parsePrivateKey(key.privatePem));
    const claims = decodeJwt(await resignToken(withNbf, generateKeyPair().privatePem));
    assert.equal(claims.nbf, 1_700_000_100);
    assert.equal(claims.exp, EXP);
    const noExp = await token(key.privatePem, { ...identity, exp: null }, false);
    const resigned = decodeJwt(await resignToken(noExp, generateKeyPair().privatePem));
    assert.equal(resigned.exp, undefined);
  });

  it('refuses an expired token, in a cli.toml too, and names when it expired', async () => {
    const oldKey = generateKeyPair();
    const expired = await new SignJWT(identity)
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuedAt(1_600_000_000)
      .setExpirationTime(1_600_000_600)
      .sign(parsePrivateKey(oldKey.privatePem));
    await assert.rejects(
      resignCliToml(
        toml(expired),
        generateKeyPair().privatePem,
        'spacetimedb_token',
        'vm-dev: cli.toml',
        null,
      ),
      namedFailure(
        'BadInput',
        /^vm-dev: cli\.toml: the token expired at 2020-09-13T12:36:40\.000Z; an expired token is not re-signed/,
      ),
    );
  });

  it('rewrites cli.toml keeping the other keys, and is idempotent', async () => {
    const oldKey = generateKeyPair();
    const newKey = generateKeyPair();
    const text = toml(await token(oldKey.privatePem));
    const first = await resignCliToml(text, newKey.privatePem, 'spacetimedb_token', 'cli.toml', null);
    assert.equal(first.changed, true);
    assert.deepEqual(first.after, first.before);
    assert.equal(first.before.sub, 'c200-publisher');
    const doc = parse(first.text) as Record<string, unknown>;
    assert.equal(doc.web_session_id, 'abc');
    assert.deepEqual({ ...(doc.server_configs as object) }, { default: 'local' });
    assert.equal(await signedBy(doc.spacetimedb_token as string, newKey.privatePem), true);
    const second = await resignCliToml(first.text, newKey.privatePem, 'spacetimedb_token', 'cli.toml', null);
    assert.equal(second.changed, false);
    assert.equal(second.text, first.text);
  });

  it('is not a signing oracle: a token not signed by the expected key is refused, unchanged', async () => {
    const issuer = generateKeyPair();
    const stranger = generateKeyPair();
    const target = generateKeyPair();
    const forged = toml(await token(stranger.privatePem));
    await assert.rejects(
      resignCliToml(forged, target.privatePem, 'spacetimedb_token', 'prod: cli.toml', [issuer.publicPem]),
      namedFailure(
        'BadInput',
        /^prod: cli.toml: the token is not signed by the key that should have signed it; refusing/,
      ),
    );
    await assert.rejects(
      resignCliToml(forged, target.privatePem, 'spacetimedb_token', 'prod: cli.toml', []),
      namedFailure('BadInput', /there is no public key to check it against/),
    );
    const genuine = toml(await token(issuer.privatePem));
    const ok = await resignCliToml(genuine, target.privatePem, 'spacetimedb_token', 'cli.toml', [
      stranger.publicPem,
      issuer.publicPem,
    ]);
    assert.equal(ok.changed, true);
    // Retried after the write: already signed by the target key, accepted whatever the signers.
    const again = await resignCliToml(ok.text, target.privatePem, 'spacetimedb_token', 'cli.toml', [
      issuer.publicPem,
    ]);
    assert.equal(again.changed, false);
  });

  it('refuses a token without sub or iss, naming the file', async () => {
    const key = generateKeyPair();
    const noSub = toml(await token(key.privatePem, { iss: 'localhost' }));
    await assert.rejects(
      resignCliToml(noSub, key.privatePem, 'spacetimedb_token', 'prod:cli.toml', null),
      namedFailure('BadInput', /^prod:cli.toml: the token has no sub claim/),
    );
    const noIss = toml(await token(key.privatePem, { sub: 'x' }));
    await assert.rejects(
      resignCliToml(noIss, key.privatePem, 'spacetimedb_token', 'cli.toml', null),
      namedFailure('BadInput', /no iss claim/),
    );
  });

  it('refuses a cli.toml without a token, or with a non-JWT token', async () => {
    const key = generateKeyPair();
    await assert.rejects(
      resignCliToml('web_session_id = "abc"\n', key.privatePem, 'spacetimedb_token', 'cli.toml', null),
      namedFailure('BadInput', /^cli.toml: no spacetimedb_token in the file$/),
    );
    await assert.rejects(
      resignCliToml(
        'spacetimedb_token = "not-a-jwt"\n',
        key.privatePem,
        'spacetimedb_token',
        'cli.toml',
        null,
      ),
      namedFailure('BadInput', /^cli.toml: the token is not a JWT$/),
    );
    await assert.rejects(
      resignCliToml('spacetimedb_token = [\n', key.privatePem, 'spacetimedb_token', 'cli.toml', null),
      namedFailure('BadInput', /^cli.toml: not valid TOML$/),
    );
  });
});
