// The payload codec: every payload rekey's workflows exchange with the server is sealed with
// AES-256-GCM before it leaves the process, so the server's database (and anyone reading
// histories without the key) sees only ciphertext. Each payload names the key that sealed it:
// after the codec key is rotated, payloads under the older keys still open.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

export const ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const CIPHER = 'encryption-cipher';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : '');

export class AesGcmCodec implements PayloadCodec {
  /** `keys`: key id -> 32 bytes; `active`: the id new payloads are sealed with. */
  constructor(
    private readonly keys: ReadonlyMap<string, Uint8Array>,
    private readonly active: string,
  ) {
    for (const [id, key] of keys) {
      if (key.length !== 32) throw new Error(`codec key "${id}": ${key.length} bytes, AES-256 needs 32`);
    }
    if (!keys.has(active)) throw new Error(`codec: the active key "${active}" is not among codec.keys`);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.get(this.active) as Uint8Array;
    return payloads.map((p) => {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { encoding: utf8(ENCODING), [KEY_ID]: utf8(this.active), [CIPHER]: utf8('AES-256-GCM') },
        data: new Uint8Array(sealed),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (text(p.metadata?.encoding) !== ENCODING) return p;
      const id = text(p.metadata?.[KEY_ID]);
      const key = this.keys.get(id);
      if (!key)
        throw new Error(
          `payload sealed with codec key "${id}", which this codec does not have (codec.keys: ${[...this.keys.keys()].join(', ')})`,
        );
      const data = p.data ?? new Uint8Array();
      if (data.length < NONCE_BYTES + TAG_BYTES)
        throw new Error(`payload sealed with codec key "${id}" is truncated (${data.length} bytes)`);
      let plain: Buffer;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES), {
          authTagLength: TAG_BYTES,
        });
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        plain = Buffer.concat([
          decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
          decipher.final(),
        ]);
      } catch {
        throw new Error(
          `payload sealed with codec key "${id}" does not open with this codec's "${id}": wrong key material`,
        );
      }
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}
