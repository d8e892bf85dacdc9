import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { WEBHOOK_EVENTS, type WebhooksService } from '../../webhooks/index.ts';
import { principalOf } from '../authentication.ts';

/** A customer's session, or their API key with webhooks:manage (a headless backend). */
const CUSTOMER = { roles: ['customer'], scope: 'webhooks:manage' } as const;
const tags = ['webhooks'];
const Webhook = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  secretHint: Type.String({ description: 'The last characters of the signing secret' }),
  createdAt: Type.String({ format: 'date-time' }),
});
const Id = Type.Object({ id: Type.String({ maxLength: 60 }) });

/** Webhook subscriptions and their delivery logs (the secret is shown once, in the subscription's answer). */
export function webhookRoutes(webhooks: WebhooksService): FastifyPluginAsyncTypebox {
  return (app) => {
    app.post(
      '/v1/webhooks',
      {
        config: { access: CUSTOMER, idempotency: 'refused' },
        schema: {
          tags,
          summary:
            'Subscribe a URL to events; deliveries are signed with the secret in this answer (shown once)',
          body: Type.Object(
            {
              url: Type.String({ maxLength: 2000, examples: ['https://example.com/hooks/indicia'] }),
              events: Type.Array(Type.Union(WEBHOOK_EVENTS.map((event) => Type.Literal(event))), {
                minItems: 1,
                maxItems: 10,
              }),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({ webhook: Webhook, secret: Type.String({ examples: ['whsec_…'] }) }),
          },
        },
      },
      async (request, reply) =>
        reply.status(201).send(await webhooks.subscribe(principalOf(request).accountId, request.body)),
    );

    app.get(
      '/v1/webhooks',
      {
        config: { access: CUSTOMER },
        schema: {
          tags,
          summary: 'Your webhooks',
          response: { 200: Type.Object({ webhooks: Type.Array(Webhook) }) },
        },
      },
      async (request) => ({ webhooks: await webhooks.list(principalOf(request).accountId) }),
    );

    app.delete(
      '/v1/webhooks/:id',
      {
        config: { access: CUSTOMER },
        schema: {
          tags,
          summary: 'Delete a webhook; pending deliveries stop',
          params: Id,
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        await webhooks.remove(principalOf(request).accountId, request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/v1/webhooks/:id/deliveries',
      {
        config: { access: CUSTOMER },
        schema: {
          tags,
          summary: 'The delivery log: every event, its attempts, the last answer, the next retry',
          params: Id,
          response: {
            200: Type.Object({
              deliveries: Type.Array(
                Type.Object({
                  id: Type.String(),
                  event: Type.String(),
                  status: Type.String({ examples: ['pending', 'delivered', 'failed'] }),
                  attempts: Type.Integer(),
                  nextAttemptAt: Type.Union([Type.String(), Type.Null()]),
                  lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
                  lastError: Type.Union([Type.String(), Type.Null()]),
                  createdAt: Type.String(),
                  deliveredAt: Type.Union([Type.String(), Type.Null()]),
                }),
              ),
            }),
          },
        },
      },
      async (request) => ({
        deliveries: await webhooks.deliveries(principalOf(request).accountId, request.params.id),
      }),
    );
    return Promise.resolve();
  };
}
