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
