// Money is integers of minor units (cents for USD), held as bigint while computing and never as a
// float. A line's amount is rounded once, here: `billable × unitPrice / per`, to the nearest minor unit,
// halves up. An invoice's total is the sum of its rounded lines, so it always equals what the lines show.

/** A meter's price for one domain: `unitPrice` minor units per `per` units beyond `included` a period. */
export interface Price {
  readonly unitPrice: bigint;
  readonly per: bigint;
  readonly included: bigint;
}

/** What one meter costs a domain for a period. */
export interface LineAmount {
  readonly quantity: bigint;
  readonly included: bigint;
  readonly billable: bigint;
  readonly amount: bigint;
}

/**
 * `numerator / denominator` rounded to the nearest integer, halves away from zero; both non-negative,
 * `denominator` positive. The one rounding rule of billing (docs/billing.md, "Rounding").
 */
export function divideRoundHalfUp(numerator: bigint, denominator: bigint): bigint {
  if (numerator < 0n || denominator <= 0n) throw new RangeError('billing amounts are never negative');
  return (numerator * 2n + denominator) / (denominator * 2n);
}

/** The amount of `quantity` units at `price`: the included units are free, the rest rounded once. */
export function lineAmount(quantity: bigint, price: Price): LineAmount {
  if (quantity < 0n) throw new RangeError('a quantity is never negative');
  const included = quantity < price.included ? quantity : price.included;
  const billable = quantity - included;
  return { quantity, included, billable, amount: divideRoundHalfUp(billable * price.unitPrice, price.per) };
}

/** The sum of amounts. */
export function sum(amounts: readonly bigint[]): bigint {
  return amounts.reduce((total, amount) => total + amount, 0n);
}
