// The payload codec: every payload rekey's workflows exchange with the server is sealed with
// AES-256-GCM before it leaves the process, so the server's database (and anyone reading
// histories without the key) sees only ciphertext. Each payload names the key that sealed it:
// after the codec key is rotated, payloads under the older keys still open. A codec whose keys
// live in a keyring secret re-reads it now and then, and at once when a payload names a key it
// does not have yet (another process rotated it).
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

export interface CodecKeys {
  /** key id -> 32 bytes. */
  keys: ReadonlyMap<string, Uint8Array>;
  /** The id new payloads are sealed with. */
  active: string;
}

/** How often a codec with a keyring source re-reads it, so every process seals with a rotated
 * key soon after the rotation. */
export const KEYRING_REFRESH_MS = 5 * 60_000;
/** A payload under a key id it does not have makes it re-read at most this often (a junk id must
 * not turn every decode into a vault read). */
const MISS_REFRESH_MS = 2_000;

function checked({ keys, active }: CodecKeys): CodecKeys {
  for (const [id, key] of keys) {
    if (key.length !== 32) throw new Error(`codec key "${id}": ${key.length} bytes, AES-256 needs 32`);
  }
  if (!keys.has(active)) throw new Error(`codec: the active key "${active}" is not among codec.keys`);
  return { keys, active };
}

export class AesGcmCodec implements PayloadCodec {
  private current: CodecKeys;
  private loadedAt = Date.now();
  private missedAt = 0;
  private reloading: Promise<void> | undefined;

  /** `reload`, when given, reads the keys again (a keyring secret). */
  constructor(
    keys: ReadonlyMap<string, Uint8Array>,
    active: string,
    private readonly reload?: () => Promise<CodecKeys>,
  ) {
    this.current = checked({ keys, active });
  }

  /** The key ids, the active one first. */
  get keyIds(): string[] {
    const { keys, active } = this.current;
    return [active, ...[...keys.keys()].filter((id) => id !== active)];
  }

  /** Re-reads the keys (one read at a time). A failed read keeps the keys it had: they still
   * seal and open everything they did before. Keys it had stay too, should a ring ever lose
   * one: a payload it sealed must still open here. */
  private refresh(): Promise<void> {
    if (!this.reload) return Promise.resolve();
    this.reloading ??= this.reload()
      .then((k) => {
        const fresh = checked(k);
        this.current = { active: fresh.active, keys: new Map([...this.current.keys, ...fresh.keys]) };
      })
      .catch(() => undefined)
      .finally(() => {
        this.loadedAt = Date.now();
        this.reloading = undefined;
      });
    return this.reloading;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    // In the background: a slow store must not hold up the payloads (the current keys still work).
    if (this.reload && Date.now() - this.loadedAt > KEYRING_REFRESH_MS && !this.reloading)
      void this.refresh();
    const { keys, active } = this.current;
    const key = keys.get(active) as Uint8Array;
    return payloads.map((p) => {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { encoding: utf8(ENCODING), [KEY_ID]: utf8(active), [CIPHER]: utf8('AES-256-GCM') },
        data: new Uint8Array(sealed),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    const idOf = (p: Payload) => text(p.metadata?.[KEY_ID]);
    const sealed = payloads.filter((p) => text(p.metadata?.encoding) === ENCODING);
    const miss = sealed.some((p) => !this.current.keys.has(idOf(p)));
    // A read already under way is waited for; a new one starts at most every MISS_REFRESH_MS.
    if (miss && this.reloading) await this.reloading;
    else if (miss && Date.now() - this.missedAt > MISS_REFRESH_MS) {
      this.missedAt = Date.now();
      await this.refresh();
    }
    const { keys } = this.current;
    return payloads.map((p) => {
      if (text(p.metadata?.encoding) !== ENCODING) return p;
      const id = idOf(p);
      const key = keys.get(id);
      if (!key)
        throw new Error(
          `payload sealed with codec key "${id}", which this codec does not have (codec keys: ${[...keys.keys()].join(', ')})`,
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
