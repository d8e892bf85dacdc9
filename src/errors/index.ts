/**
 * The base of every error Indicia reports on purpose. Each module declares its own subclass with
 * a union of stable codes (`money.overflow`, `store.schema_newer`, ...); the API maps codes to HTTP
 * statuses in one table and shows `code` and `message`, never a stack trace.
 *
 * @example
 * type MoneyErrorCode = 'money.overflow';
 * class MoneyError extends IndiciaError<MoneyErrorCode> {}
 * throw new MoneyError('money.overflow', 'The amount is larger than Indicia can represent.');
 */
export class IndiciaError<Code extends string = string> extends Error {
  readonly code: Code;
  /** Safe, structured facts a client may use (field names, limits). Never secrets. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: Code, message: string, options?: { details?: Record<string, unknown>; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details;
  }
}

export function isIndiciaError(value: unknown): value is IndiciaError {
  return value instanceof IndiciaError;
}
