import { Type, type Static } from 'typebox';
import { ApiError } from './api-error.ts';

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({
        description: 'Stable, machine-readable error code.',
        examples: ['request.invalid'],
      }),
      message: Type.String({ description: 'What went wrong and what to do, for a person.' }),
      requestId: Type.String({ description: 'Quote this when contacting support.' }),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  },
  { $id: 'ErrorResponse', description: 'Every error has this shape.' },
);
export type ErrorResponse = Static<typeof ErrorResponse>;

export const errorResponseRef = Type.Ref('ErrorResponse');

/** A whole number in a query string or path (they are text): digits, no leading zero. */
export const Digits = (description: string) => Type.String({ pattern: '^[1-9][0-9]{0,12}$', description });

/** A whole number from the query or path, or `request.invalid` naming the field and its range. */
export function wholeNumber(text: string, field: string, range: { min: number; max: number }): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max)
    throw new ApiError(
      'request.invalid',
      `${field} must be a whole number from ${range.min} to ${range.max}.`,
      { details: { field } },
    );
  return value;
}
