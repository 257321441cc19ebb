// node-postgres ships no types for its helpers; this is the one the store uses.
declare module 'pg/lib/utils.js' {
  const utils: {
    /** The text node-postgres sends for a query parameter (or a Buffer, or null). */
    prepareValue(this: void, value: unknown): unknown;
  };
  export default utils;
}
