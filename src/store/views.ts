// The API's view of a stored row: the columns it shows, each under its camelCase name (`domain_id` →
// `domainId`) or the name it is given instead, and each time as its ISO 8601 string. The columns are
// named one by one, so a column the API must not show (a secret's hash) is never shown by default; the
// view's type follows from them, so the compiler checks every view against the type it is declared as.

/** `post_logout_redirect_uris` → `postLogoutRedirectUris`. */
export type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

/** A column's value as a view shows it: a time as its ISO 8601 string, null as null, the rest as it is. */
export type Shown<T> = T extends Date ? string : T;

/** Other names than their camelCase ones for some of the columns `C`. */
export type Renames<C extends string> = { readonly [K in C]?: string };

/** The view of the columns `C` of `Row`, in that order, renamed by `N`. */
export type RowView<Row, C extends keyof Row & string, N extends Renames<C>> = {
  readonly [K in C as K extends keyof N ? (N[K] extends string ? N[K] : CamelCase<K>) : CamelCase<K>]: Shown<
    Row[K]
  >;
};

function camelCase(column: string): string {
  return column
    .split('_')
    .map((part, i) => (i === 0 ? part : part.charAt(0).toUpperCase() + part.slice(1)))
    .join('');
}

/** The columns `columns` of `row` as the API shows them, in that order, renamed by `names`. */
export function rowView<Row, const C extends keyof Row & string, const N extends Renames<C> = Renames<never>>(
  row: Row,
  columns: readonly C[],
  names?: N,
): RowView<Row, C, N> {
  const view: Record<string, unknown> = {};
  for (const column of columns) {
    const value = row[column];
    const name: string | undefined = names?.[column];
    view[name ?? camelCase(column)] = value instanceof Date ? value.toISOString() : value;
  }
  return view as RowView<Row, C, N>;
}
