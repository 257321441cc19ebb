// The storage area's object format (src/providers/storage/storage-crypto.ts) against documented streaming
// formats of well-kept libraries, encrypting and decrypting the same objects in the same process.
//
//   npm run bench:objects
//
// Candidates, each a whole object format (a random key per object, wrapped under the domain's key with the
// object's place bound in, then the body in 64 KiB chunks that detect truncation and reordering):
// - current: `ObjectSealer`, `openHeader` and `openChunk` as the provider calls them (node:crypto's
//   AES-256-GCM, OpenSSL);
// - libsodium secretstream (XChaCha20-Poly1305) through `sodium-native` (libsodium, native), the object key
//   wrapped with libsodium's XChaCha20-Poly1305 AEAD;
// - the same through `libsodium-wrappers` (libsodium compiled to WebAssembly);
// - age (`age-encryption`, the TypeScript implementation by age's authors), an X25519 recipient per domain:
//   age's own header (an X25519 exchange per object) and its STREAM body (ChaCha20-Poly1305, 64 KiB chunks).
// For 1 KiB, 1 MiB and 64 MiB objects it prints the MB/s (of plaintext) of encrypting and of decrypting,
// the medians of BENCH_ROUNDS interleaved rounds of at least BENCH_MIN_MS each, and each candidate's ratio
// to the current format. Every round trip is checked to give back the object.
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import sodiumWrappers from 'libsodium-wrappers';
import sodium from 'sodium-native';
import {
  CHUNK_SIZE,
  HEADER_BYTES,
  ObjectSealer,
  TAG_BYTES,
  chunkCount,
  chunkPlainLength,
  deriveStorageKeys,
  openChunk,
  openHeader,
  type ObjectContext,
} from '../src/providers/storage/storage-crypto.js';

const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const minMs = Number(process.env['BENCH_MIN_MS'] ?? 500);
const sizes = [
  ['1 KiB', 1024],
  ['1 MiB', 1024 * 1024],
  ['64 MiB', 64 * 1024 * 1024],
] as const;

const context: ObjectContext = { resourceName: 'bh_dom_example_res_example', fileName: 'f'.repeat(64) };
const contextBytes = Buffer.from(`${context.resourceName}\0${context.fileName}`, 'utf8');

interface Format {
  readonly label: string;
  seal(plain: Buffer): Buffer | Promise<Uint8Array>;
  open(sealed: Uint8Array): Buffer | Uint8Array | Promise<Uint8Array>;
}

function current(): Format {
  const { wrapKey } = deriveStorageKeys(randomBytes(32));
  return {
    label: 'current (AES-256-GCM chunks, node:crypto)',
    seal(plain) {
      const sealer = new ObjectSealer();
      const n = chunkCount(plain.length, CHUNK_SIZE);
      const parts: Buffer[] = [Buffer.alloc(0)];
      for (let i = 0; i < n; i++) {
        const chunk = plain.subarray(i * CHUNK_SIZE, Math.min(plain.length, (i + 1) * CHUNK_SIZE));
        parts.push(sealer.sealChunk(chunk, i === n - 1));
      }
      parts[0] = sealer.header(plain.length, wrapKey, context);
      sealer.dispose();
      return Buffer.concat(parts);
    },
    open(sealed) {
      const file = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
      const object = openHeader(file.subarray(0, HEADER_BYTES), file.length, wrapKey, context);
      const parts: Buffer[] = [];
      let at = HEADER_BYTES;
      for (let i = 0; i < object.chunks; i++) {
        const length = chunkPlainLength(object, i) + TAG_BYTES;
        parts.push(openChunk(object, i, file.subarray(at, at + length)));
        at += length;
      }
      return Buffer.concat(parts);
    },
  };
}

// Layout of the libsodium candidates: wrap nonce (24), wrapped key (32 + 16), secretstream header (24),
// then each chunk with its 17 bytes of overhead (a tag byte and the MAC).
const WRAP_NONCE = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
const WRAPPED = 32 + sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES;
const STREAM_HEADER = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES;
const ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES;
const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
const PREFIX = WRAP_NONCE + WRAPPED + STREAM_HEADER;

function sodiumNative(): Format {
  const wrapKey = randomBytes(32);
  return {
    label: 'secretstream XChaCha20-Poly1305, sodium-native',
    seal(plain) {
      const n = chunkCount(plain.length, CHUNK_SIZE);
      const out = Buffer.alloc(PREFIX + plain.length + n * ABYTES);
      const objectKey = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES);
      sodium.crypto_secretstream_xchacha20poly1305_keygen(objectKey);
      const nonce = out.subarray(0, WRAP_NONCE);
      sodium.randombytes_buf(nonce);
      sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        out.subarray(WRAP_NONCE, WRAP_NONCE + WRAPPED),
        objectKey,
        contextBytes,
        null,
        nonce,
        wrapKey,
      );
      const state = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
      sodium.crypto_secretstream_xchacha20poly1305_init_push(
        state,
        out.subarray(WRAP_NONCE + WRAPPED, PREFIX),
        objectKey,
      );
      let at = PREFIX;
      for (let i = 0; i < n; i++) {
        const chunk = plain.subarray(i * CHUNK_SIZE, Math.min(plain.length, (i + 1) * CHUNK_SIZE));
        const c = out.subarray(at, at + chunk.length + ABYTES);
        sodium.crypto_secretstream_xchacha20poly1305_push(
          state,
          c,
          chunk,
          null,
          i === n - 1 ? TAG_FINAL : TAG_MESSAGE,
        );
        at += c.length;
      }
      sodium.sodium_memzero(objectKey);
      return out;
    },
    open(sealed) {
      const file = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
      const objectKey = Buffer.alloc(32);
      sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        objectKey,
        null,
        file.subarray(WRAP_NONCE, WRAP_NONCE + WRAPPED),
        contextBytes,
        file.subarray(0, WRAP_NONCE),
        wrapKey,
      );
      const state = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
      sodium.crypto_secretstream_xchacha20poly1305_init_pull(
        state,
        file.subarray(WRAP_NONCE + WRAPPED, PREFIX),
        objectKey,
      );
      const body = file.length - PREFIX;
      const n = Math.max(1, Math.ceil(body / (CHUNK_SIZE + ABYTES)));
      const out = Buffer.alloc(body - n * ABYTES);
      const tag = Buffer.alloc(1);
      let at = PREFIX;
      for (let i = 0; i < n; i++) {
        const length = Math.min(CHUNK_SIZE + ABYTES, file.length - at);
        const m = out.subarray(i * CHUNK_SIZE, i * CHUNK_SIZE + length - ABYTES);
        sodium.crypto_secretstream_xchacha20poly1305_pull(
          state,
          m,
          tag,
          file.subarray(at, at + length),
          null,
        );
        // The final tag on the last chunk and nowhere else: a cut or extended stream does not open.
        if ((tag[0] === TAG_FINAL) !== (i === n - 1)) throw new Error('truncated or extended stream');
        at += length;
      }
      sodium.sodium_memzero(objectKey);
      return out;
    },
  };
}

function sodiumWasm(): Format {
  const s = sodiumWrappers;
  const wrapKey = s.randombytes_buf(32);
  return {
    label: 'secretstream XChaCha20-Poly1305, libsodium-wrappers',
    seal(plain) {
      const n = chunkCount(plain.length, CHUNK_SIZE);
      const objectKey = s.crypto_secretstream_xchacha20poly1305_keygen();
      const nonce = s.randombytes_buf(WRAP_NONCE);
      const wrapped = s.crypto_aead_xchacha20poly1305_ietf_encrypt(
        objectKey,
        contextBytes,
        null,
        nonce,
        wrapKey,
      );
      const { state, header } = s.crypto_secretstream_xchacha20poly1305_init_push(objectKey);
      const parts: Uint8Array[] = [nonce, wrapped, header];
      for (let i = 0; i < n; i++) {
        const chunk = plain.subarray(i * CHUNK_SIZE, Math.min(plain.length, (i + 1) * CHUNK_SIZE));
        parts.push(
          s.crypto_secretstream_xchacha20poly1305_push(
            state,
            chunk,
            null,
            i === n - 1 ? TAG_FINAL : TAG_MESSAGE,
          ),
        );
      }
      return Buffer.concat(parts);
    },
    open(sealed) {
      const objectKey = s.crypto_aead_xchacha20poly1305_ietf_decrypt(
        null,
        sealed.subarray(WRAP_NONCE, WRAP_NONCE + WRAPPED),
        contextBytes,
        sealed.subarray(0, WRAP_NONCE),
        wrapKey,
      );
      const state = s.crypto_secretstream_xchacha20poly1305_init_pull(
        sealed.subarray(WRAP_NONCE + WRAPPED, PREFIX),
        objectKey,
      );
      const parts: Uint8Array[] = [];
      const n = Math.max(1, Math.ceil((sealed.length - PREFIX) / (CHUNK_SIZE + ABYTES)));
      let at = PREFIX;
      for (let i = 0; i < n; i++) {
        const length = Math.min(CHUNK_SIZE + ABYTES, sealed.length - at);
        const r = s.crypto_secretstream_xchacha20poly1305_pull(state, sealed.subarray(at, at + length), null);
        if (r === false || (r.tag === TAG_FINAL) !== (i === n - 1)) throw new Error('stream does not open');
        parts.push(r.message);
        at += length;
      }
      return Buffer.concat(parts);
    },
  };
}

async function age(): Promise<Format> {
  const identity = await generateX25519Identity();
  const encrypter = new Encrypter();
  encrypter.addRecipient(await identityToRecipient(identity));
  const decrypter = new Decrypter();
  decrypter.addIdentity(identity);
  return {
    label: 'age (X25519 recipient), age-encryption',
    seal: (plain) => encrypter.encrypt(plain),
    open: (sealed) => decrypter.decrypt(sealed),
  };
}

interface Rates {
  readonly seal: number;
  readonly open: number;
}

/** MB/s of sealing and of opening `plain`, each repeated for at least `minMs`; the result is checked. */
async function measure(format: Format, plain: Buffer): Promise<Rates> {
  const time = async (op: () => unknown): Promise<number> => {
    let n = 0;
    const start = performance.now();
    do {
      await op();
      n++;
    } while (performance.now() - start < minMs);
    return (n * plain.length) / 1e6 / ((performance.now() - start) / 1000);
  };
  let sealed: Uint8Array = Buffer.alloc(0);
  const seal = await time(async () => (sealed = await format.seal(plain)));
  let opened: Uint8Array = Buffer.alloc(0);
  const open = await time(async () => (opened = await format.open(sealed)));
  if (!Buffer.from(opened.buffer, opened.byteOffset, opened.byteLength).equals(plain)) {
    throw new Error(`${format.label}: the object did not come back`);
  }
  return { seal, open };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  await sodiumWrappers.ready;
  const formats = [current(), sodiumNative(), sodiumWasm(), await age()];
  console.log(
    `Object formats, MB/s of plaintext (median of ${rounds} interleaved rounds of at least ${minMs} ms each),` +
      `\nencrypt and decrypt, and the ratio of each to the current format; load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}:`,
  );
  for (const [name, size] of sizes) {
    const plain = randomBytes(size);
    const figures: Rates[][] = formats.map(() => []);
    for (let r = 0; r < rounds; r++) {
      for (const [k, format] of formats.entries()) figures[k]!.push(await measure(format, plain));
    }
    const rate = (k: number, op: keyof Rates) => median(figures[k]!.map((f) => f[op]));
    console.log(`\n${name} objects:                                        encrypt        decrypt`);
    for (const [k, format] of formats.entries()) {
      const cell = (op: keyof Rates) =>
        `${rate(k, op)
          .toFixed(rate(k, op) < 10 ? 2 : 0)
          .padStart(7)} ${(rate(k, op) / rate(0, op)).toFixed(2)}`;
      console.log(`  ${format.label.padEnd(52)} ${cell('seal')}   ${cell('open')}`);
    }
  }
  // Bytes each format adds to an object, besides its body.
  console.log('\nOverhead per object (bytes added to 1 MiB, 16 chunks):');
  const mib = randomBytes(1024 * 1024);
  for (const format of formats) {
    console.log(
      `  ${format.label.padEnd(52)} ${((await format.seal(mib)).length - mib.length).toString().padStart(5)}`,
    );
  }
}

await main();
