export { WebhookError, type WebhookErrorCode } from './webhook-error.ts';
export { isPrivateAddress, refusedTarget } from './target-address.ts';
export {
  EVENT_ID_HEADER,
  MAX_SUBSCRIPTIONS_PER_ACCOUNT,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  WEBHOOK_EVENTS,
  createWebhooksService,
  enqueueWebhookEvent,
  webhookSignature,
  type DeliveryView,
  type SecretSource,
  type WebhookView,
  type WebhooksService,
} from './webhooks-service.ts';
export {
  MAX_INDICIA_PER_EVENT,
  WEBHOOK_EVENT_CATALOGUE,
  type WebhookEventData,
  webhookEventSchema,
} from './event-catalogue.ts';
export { CATALOGUE_END, CATALOGUE_START, eventCatalogueMarkdown } from './event-catalogue-doc.ts';
