// sodium-native ships no types (and @types/sodium-native describes version 2); these are the calls
// bench/object-format.ts makes, as libsodium documents them.
declare module 'sodium-native' {
  const sodium: {
    readonly crypto_aead_xchacha20poly1305_ietf_NPUBBYTES: number;
    readonly crypto_aead_xchacha20poly1305_ietf_ABYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_KEYBYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_STATEBYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_HEADERBYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_ABYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_TAG_MESSAGE: number;
    readonly crypto_secretstream_xchacha20poly1305_TAG_FINAL: number;
    randombytes_buf(this: void, buffer: Buffer): void;
    sodium_memzero(this: void, buffer: Buffer): void;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
      this: void,
      ciphertext: Buffer,
      message: Buffer,
      additionalData: Buffer | null,
      secretNonce: null,
      publicNonce: Buffer,
      key: Buffer,
    ): number;
    /** Throws when the ciphertext does not authenticate. */
    crypto_aead_xchacha20poly1305_ietf_decrypt(
      this: void,
      message: Buffer,
      secretNonce: null,
      ciphertext: Buffer,
      additionalData: Buffer | null,
      publicNonce: Buffer,
      key: Buffer,
    ): number;
    crypto_secretstream_xchacha20poly1305_keygen(this: void, key: Buffer): void;
    crypto_secretstream_xchacha20poly1305_init_push(
      this: void,
      state: Buffer,
      header: Buffer,
      key: Buffer,
    ): void;
    crypto_secretstream_xchacha20poly1305_push(
      this: void,
      state: Buffer,
      ciphertext: Buffer,
      message: Buffer,
      additionalData: Buffer | null,
      tag: number,
    ): number;
    crypto_secretstream_xchacha20poly1305_init_pull(
      this: void,
      state: Buffer,
      header: Buffer,
      key: Buffer,
    ): void;
    /** Throws when the chunk does not authenticate; writes the chunk's tag into `tag`. */
    crypto_secretstream_xchacha20poly1305_pull(
      this: void,
      state: Buffer,
      message: Buffer,
      tag: Buffer,
      ciphertext: Buffer,
      additionalData: Buffer | null,
    ): number;
  };
  export default sodium;
}
