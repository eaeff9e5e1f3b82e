// rekey's SSHSIG verifier against OpenSSH's own (`ssh-keygen -Y verify`): real signatures made by
// ssh-keygen, then re-encoded and mutated; every verdict rekey gives must be the one OpenSSH
// gives. And approver keys that would accept forgeries (a small-order Ed25519 point, a P-256
// point off the curve) are refused when the config is read.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseSshPublicKey, verifySshSignature } from '../../shared/sshsig';

const NS = 'rekey-approval';
const dir = mkdtempSync(join(tmpdir(), 'rekey-sshsig-'));

/** SSH wire encoding: a string is a uint32 length and the bytes. */
const str = (b: Buffer | string) => {
  const body = Buffer.from(b);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
};
function fields(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < b.length; ) {
    const n = b.readUInt32BE(at);
    out.push(b.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}
const armor = (blob: Buffer) =>
  `-----BEGIN SSH SIGNATURE-----\n${blob
    .toString('base64')
    .match(/.{1,70}/g)
    ?.join('\n')}\n-----END SSH SIGNATURE-----\n`;
const unarmor = (sig: string) =>
  Buffer.from(sig.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, ''), 'base64');

/** The parts of an SSHSIG blob: preamble is "SSHSIG" + version; the rest are strings. */
interface Sig {
  key: Buffer;
  ns: Buffer;
  reserved: Buffer;
  hash: Buffer;
  sigType: Buffer;
  /** Ed25519: the 64 bytes; ECDSA: the string holding r and s as mpints. */
  sig: Buffer;
  innerTrailer?: Buffer;
  outerTrailer?: Buffer;
}
function parse(blob: Buffer): Sig {
  const [key, ns, reserved, hash, inner] = fields(blob.subarray(10)) as Buffer[];
  const [sigType, sig] = fields(inner as Buffer) as Buffer[];
  return { key, ns, reserved, hash, sigType, sig } as Sig;
}
function encode(s: Sig): Buffer {
  const inner = Buffer.concat([str(s.sigType), str(s.sig), s.innerTrailer ?? Buffer.alloc(0)]);
  return Buffer.concat([
    Buffer.from('SSHSIG\0\0\0\x01', 'latin1'),
    str(s.key),
    str(s.ns),
    str(s.reserved),
    str(s.hash),
    str(inner),
    s.outerTrailer ?? Buffer.alloc(0),
  ]);
}

interface Signer {
  name: string;
  pub: string;
  allowed: string;
  sign(message: string): string;
}
function signer(type: 'ed25519' | 'ecdsa'): Signer {
  const file = join(dir, type);
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    type,
    ...(type === 'ecdsa' ? ['-b', '256'] : []),
    '-N',
    '',
    '-f',
    file,
  ]);
  const pub = readFileSync(`${file}.pub`, 'utf8').trim();
  const allowed = join(dir, `${type}.allowed`);
  writeFileSync(allowed, `approver@test namespaces="${NS}" ${pub}\n`);
  return {
    name: type,
    pub,
    allowed,
    sign: (message) =>
      execFileSync('ssh-keygen', ['-Y', 'sign', '-n', NS, '-f', file], { input: message, encoding: 'utf8' }),
  };
}

/** OpenSSH's verdict. */
function openssh(s: Signer, signature: string, message: string): boolean {
  const file = join(dir, 'sig');
  writeFileSync(file, signature);
  const r = spawnSync(
    'ssh-keygen',
    ['-Y', 'verify', '-f', s.allowed, '-I', 'approver@test', '-n', NS, '-s', file],
    {
      input: message,
    },
  );
  return r.status === 0;
}
function rekey(s: Signer, signature: string, message: string): boolean {
  try {
    verifySshSignature(signature, parseSshPublicKey(s.pub), NS, message);
    return true;
  } catch {
    return false;
  }
}

/** An mpint's magnitude with `zeros` leading zero bytes, or without its sign byte ("negative"). */
function mpints(sig: Buffer): Buffer[] {
  return fields(sig);
}
const mpintSig = (r: Buffer, s: Buffer, trailer = Buffer.alloc(0)) =>
  Buffer.concat([str(r), str(s), trailer]);

describe('SSHSIG verdicts are OpenSSH verdicts', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const type of ['ed25519', 'ecdsa'] as const) {
    it(`${type}: structured re-encodings and random mutations of ssh-keygen's signatures`, () => {
      const s = signer(type);
      const message = 'sha256:4f0c1d2e3b4a5968778695a4b3c2d1e0f0e1d2c3b4a5968778695a4b3c2d1e0';
      const cases: { what: string; sig: string }[] = [];
      // ECDSA: sign until r needs its sign byte (about half the time), to drop it.
      let genuine = s.sign(message);
      for (let i = 0; type === 'ecdsa' && i < 40; i++) {
        const [r] = mpints(parse(unarmor(genuine)).sig);
        if (r?.length === 33) break;
        genuine = s.sign(message);
      }
      const base = parse(unarmor(genuine));
      cases.push({ what: 'genuine', sig: genuine });
      cases.push({
        what: 'outer trailing byte',
        sig: armor(encode({ ...base, outerTrailer: Buffer.from([0]) })),
      });
      cases.push({
        what: 'inner trailing byte',
        sig: armor(encode({ ...base, innerTrailer: Buffer.from([0]) })),
      });
      cases.push({
        what: 'non-empty reserved field',
        sig: armor(encode({ ...base, reserved: Buffer.from('x') })),
      });
      cases.push({
        what: 'sha256 named instead of sha512',
        sig: armor(encode({ ...base, hash: Buffer.from('sha256') })),
      });
      cases.push({ what: 'another namespace', sig: armor(encode({ ...base, ns: Buffer.from('git') })) });
      if (type === 'ed25519') {
        cases.push({
          what: 'signature + 1 byte',
          sig: armor(encode({ ...base, sig: Buffer.concat([base.sig, Buffer.from([0])]) })),
        });
      } else {
        const [r, sv] = mpints(base.sig) as [Buffer, Buffer];
        const bare = (m: Buffer) => (m[0] === 0 ? m.subarray(1) : m);
        cases.push({
          what: 'r negative (sign byte dropped)',
          sig: armor(encode({ ...base, sig: mpintSig(bare(r), sv) })),
        });
        cases.push({
          what: 'r with two extra leading zeros',
          sig: armor(encode({ ...base, sig: mpintSig(Buffer.concat([Buffer.alloc(2), r]), sv) })),
        });
        cases.push({
          what: 'r s trailing byte',
          sig: armor(encode({ ...base, sig: mpintSig(r, sv, Buffer.from([1])) })),
        });
        cases.push({ what: 's empty', sig: armor(encode({ ...base, sig: mpintSig(r, Buffer.alloc(0)) })) });
      }
      // Random single-byte changes anywhere in the blob.
      const blob = unarmor(genuine);
      let seed = 7;
      const next = () => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed;
      };
      for (let i = 0; i < 40; i++) {
        const mutated = Buffer.from(blob);
        const at = next() % mutated.length;
        mutated[at] = (mutated[at] as number) ^ (1 << (next() % 8));
        cases.push({ what: `bit flip at ${at}`, sig: armor(mutated) });
      }
      const differ = cases.filter((c) => openssh(s, c.sig, message) !== rekey(s, c.sig, message));
      assert.deepEqual(
        differ.map((c) => `${c.what}: OpenSSH ${openssh(s, c.sig, message) ? 'accepts' : 'refuses'}`),
        [],
      );
      assert.ok(rekey(s, genuine, message), 'the genuine signature verifies');
    });
  }

  it('degenerate approver keys are refused: a small-order Ed25519 point (it verifies a forgery for any text), a P-256 point off the curve', () => {
    const identity = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);
    const edLine = `ssh-ed25519 ${Buffer.concat([str('ssh-ed25519'), str(identity)]).toString('base64')}`;
    assert.throws(() => parseSshPublicKey(edLine), /degenerate|small order/);
    const off = Buffer.concat([
      Buffer.from([4]),
      Buffer.alloc(31),
      Buffer.from([1]),
      Buffer.alloc(31),
      Buffer.from([1]),
    ]);
    const ecLine = `ecdsa-sha2-nistp256 ${Buffer.concat([str('ecdsa-sha2-nistp256'), str('nistp256'), str(off)]).toString('base64')}`;
    assert.throws(() => parseSshPublicKey(ecLine), /not a point on the curve/);
  });
});
