/** True when `error` is PostgreSQL's unique violation (23505), optionally on the named constraint or index. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown };
  if (e.code !== '23505') return false;
  if (constraint === undefined) return true;
  return (
    e.constraint === constraint || (typeof e.message === 'string' && e.message.includes(`"${constraint}"`))
  );
}
