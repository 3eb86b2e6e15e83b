// Money as integer cents. Amounts are generated as cents and formatted with string
// operations, so no binary floating point ever touches a money value on our side.

/** 1299 → "12.99", 5 → "0.05". */
export function formatCents(cents: number | bigint): string {
  const value = BigInt(cents)
  const negative = value < 0n
  const abs = negative ? -value : value
  const whole = abs / 100n
  const frac = (abs % 100n).toString().padStart(2, '0')
  return `${negative ? '-' : ''}${whole}.${frac}`
}

/**
 * Parses a decimal amount (a string, or a JSON number as its shortest decimal text) into
 * cents. Returns null when it is not a decimal with at most 2 decimals.
 */
export function parseCents(amount: unknown): bigint | null {
  let text: string
  if (typeof amount === 'string') text = amount
  else if (typeof amount === 'number' && Number.isFinite(amount)) text = String(amount)
  else return null
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(text)
  if (!match) return null
  const [, sign, whole, frac = ''] = match
  const cents = BigInt(whole ?? '0') * 100n + BigInt(frac.padEnd(2, '0') || '0')
  return sign === '-' ? -cents : cents
}

/** `amount` for the wire: a JSON number (exact to the cent: it is the parse of the decimal text) or the text. */
export function amountValue(cents: number, asString: boolean): number | string {
  const text = formatCents(cents)
  return asString ? text : Number(text)
}
