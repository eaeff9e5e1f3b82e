// Fernet as its spec defines it (the acceptance vectors of github.com/fernet/spec), and
// interoperable both ways with Python's cryptography (Fernet, MultiFernet) from the test venv.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fernetDecrypt, fernetEncrypt, fernetKey } from '../../activities/fernet';

// fernet/spec generate.json, verify.json and invalid.json (one shared key and time).
const SECRET = 'cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=';
const TOKEN =
  'gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==';
const at = (iso: string) => Date.parse(iso) / 1000;
const INVALID: [string, string, string][] = [
  [
    'incorrect mac',
    'gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykQUFBQUFBQUFBQQ==',
    '1985-10-26T01:20:01-07:00',
  ],
  ['too short', 'gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPA==', '1985-10-26T01:20:01-07:00'],
  [
    'invalid base64',
    '%%%%%%%%%%%%%AECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykRtfsH-p1YsUD2Q==',
    '1985-10-26T01:20:01-07:00',
  ],
  [
    'payload size not multiple of block size',
    'gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPOm73QeoCk9uGib28Xe5vz6oxq5nmxbx_v7mrfyudzUm',
    '1985-10-26T01:20:01-07:00',
  ],
  [
    'payload padding error',
    'gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0ODz4LEpdELGQAad7aNEHbf-JkLPIpuiYRLQ3RtXatOYREu2FWke6CnJNYIbkuKNqOhw==',
    '1985-10-26T01:20:01-07:00',
  ],
  [
    'far-future TS',
    'gAAAAAAdwStRAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAnja1xKYyhd-Y6mSkTOyTGJmw2Xc2a6kBd-iX9b_qXQcw==',
    '1985-10-26T01:20:01-07:00',
  ],
  [
    'expired TTL',
    'gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykRtfsH-p1YsUD2Q==',
    '1985-10-26T01:21:31-07:00',
  ],
  [
    'incorrect IV',
    'gAAAAAAdwJ6xBQECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAkLhFLHpGtDBRLRTZeUfWgHSv49TF2AUEZ1TIvcZjK1zQ==',
    '1985-10-26T01:20:01-07:00',
  ],
];

const python = join(process.env.REKEY_CACHE ?? join(homedir(), '.cache', 'rekey'), 'pyenv', 'bin', 'python');
/** Runs Python with cryptography; `args` reach it as sys.argv[1:]. */
const py = (code: string, ...args: string[]) =>
  execFileSync(python, [
    '-c',
    `import sys\nfrom cryptography.fernet import Fernet, MultiFernet\n${code}`,
    ...args,
  ])
    .toString()
    .trim();

describe('Fernet', () => {
  it('generates and verifies the spec vectors, and refuses every invalid one', () => {
    const iv = Buffer.from([...Array(16).keys()]);
    assert.equal(fernetEncrypt(SECRET, 'hello', { nowS: at('1985-10-26T01:20:00-07:00'), iv }), TOKEN);
    assert.equal(
      fernetDecrypt([SECRET], TOKEN, { ttlS: 60, nowS: at('1985-10-26T01:20:01-07:00') }).toString(),
      'hello',
    );
    for (const [desc, token, now] of INVALID)
      assert.throws(() => fernetDecrypt([SECRET], token, { ttlS: 60, nowS: at(now) }), /invalid token/, desc);
  });

  it('a key list opens what any of its keys sealed and seals with its first', () => {
    const [k1, k2] = [fernetKey(), fernetKey()];
    const old = fernetEncrypt(k1, 'webhook');
    assert.equal(fernetDecrypt([k2, k1], old).toString(), 'webhook');
    assert.throws(() => fernetDecrypt([k2], old), /invalid token/);
  });

  it("interoperates with Python's cryptography both ways, MultiFernet included", () => {
    const [k1, k2] = [fernetKey(), fernetKey()];
    // Python opens what rekey sealed, with a list (new key first) as MultiFernet does.
    const ours = fernetEncrypt(k1, 'from rekey');
    assert.equal(
      py(
        'print(MultiFernet([Fernet(sys.argv[1]), Fernet(sys.argv[2])]).decrypt(sys.argv[3].encode()).decode())',
        k2,
        k1,
        ours,
      ),
      'from rekey',
    );
    // rekey opens what Python sealed, and keys Python generated are keys to rekey.
    const pyKey = py('print(Fernet.generate_key().decode())');
    const theirs = py('print(Fernet(sys.argv[1]).encrypt(b"from python").decode())', pyKey);
    assert.equal(fernetDecrypt([k2, pyKey], theirs).toString(), 'from python');
  });
});
