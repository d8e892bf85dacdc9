import { Type, type Static } from 'typebox';

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
