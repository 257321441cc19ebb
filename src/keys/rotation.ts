// The bound on a key rotation's overlap, on its own: the CLI checks `--overlap` against it as it parses,
// without loading the key service and the store behind it.

/** The longest overlap a rotation may keep the old key alive for. */
export const maxRotationOverlapSeconds = 30 * 24 * 3600;
