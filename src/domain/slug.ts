// A slug names a domain in hosts and in backend names, so it must be a DNS label that cannot be
// mistaken for another: it is normalised (NFKC, lowercase) before any comparison, and characters
// that only imitate Latin letters are refused rather than silently mapped. No I/O here.
import { BulkheadError } from '../errors.js';

/** Letters from other scripts that render like a-z or 0-9; a slug containing one is refused as confusable. */
const homoglyphs = new Set(
  [
    // Cyrillic
    'а',
    'в',
    'е',
    'к',
    'м',
    'н',
    'о',
    'р',
    'с',
    'т',
    'у',
    'х',
    'ѕ',
    'і',
    'ј',
    'ԁ',
    'ԛ',
    'ԝ',
    'һ',
    'ӏ',
    'ɡ',
    'ь',
    'п',
    'г',
    // Greek
    'α',
    'β',
    'ε',
    'ι',
    'κ',
    'ν',
    'ο',
    'ρ',
    'τ',
    'υ',
    'χ',
    'ω',
    'γ',
    'η',
    'μ',
    // Latin look-alikes outside a-z
    'ı',
    'ȷ',
    'ł',
    'ø',
    'ð',
    'ß',
    'ɑ',
    'ɩ',
    'ɪ',
    'ʀ',
    'ʏ',
    'ᴀ',
    'ᴄ',
    'ᴅ',
    'ᴇ',
    'ᴋ',
    'ᴍ',
    'ᴏ',
    'ᴘ',
    'ᴛ',
    'ᴜ',
    'ᴠ',
    'ᴡ',
    'ᴢ',
    // Armenian and Cherokee letters that copy Latin shapes
    'օ',
    'ս',
    'ց',
    'հ',
    'ո',
    'ꭰ',
    'ꭱ',
    'ꭲ',
  ].map((c) => c.normalize('NFKC').toLowerCase()),
);

/** Names that would be mistaken for the platform itself in a host name or a backend object. */
export const reservedSlugs: ReadonlySet<string> = new Set([
  'admin',
  'administrator',
  'api',
  'app',
  'assets',
  'auth',
  'billing',
  'bulkhead',
  'cdn',
  'console',
  'control',
  'dashboard',
  'default',
  'dev',
  'docs',
  'ftp',
  'help',
  'internal',
  'localhost',
  'login',
  'mail',
  'metrics',
  'null',
  'oauth',
  'operator',
  'portal',
  'postgres',
  'postmaster',
  'public',
  'rabbitmq',
  'redis',
  'root',
  'sso',
  'static',
  'status',
  'support',
  'system',
  'template',
  'template0',
  'template1',
  'undefined',
  'well-known',
  'www',
]);

const label = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/** NFKC then lowercase: the form every comparison and every stored slug uses. */
export function normaliseSlug(input: string): string {
  return input.normalize('NFKC').toLowerCase();
}

/**
 * Normalises a slug and checks it, throwing a 400 whose code says why it was refused.
 *
 * @example
 * parseSlug('Acme') // 'acme'
 * parseSlug('аcme') // throws slug_confusable (the first letter is Cyrillic)
 */
export function parseSlug(input: string): string {
  const slug = normaliseSlug(input.trim());
  for (const ch of slug) {
    if (/[a-z0-9-]/.test(ch)) continue;
    if (homoglyphs.has(ch)) {
      throw new BulkheadError(
        'slug_confusable',
        `The slug contains "${ch}", which imitates a Latin letter or digit.`,
      );
    }
    throw new BulkheadError('invalid_slug', 'A slug may contain only a-z, 0-9 and "-".');
  }
  if (slug.length < 3 || slug.length > 63) throw new BulkheadError('slug_length');
  if (!label.test(slug))
    throw new BulkheadError('invalid_slug', 'A slug must start and end with a letter or digit.');
  if (/^..--/.test(slug)) {
    throw new BulkheadError(
      'slug_confusable',
      'Slugs with "--" in the third and fourth places are IDN labels.',
    );
  }
  if (reservedSlugs.has(slug)) throw new BulkheadError('slug_reserved', `The slug "${slug}" is reserved.`);
  return slug;
}
