import type { WebhookEvent } from '../store/index.ts';
import { WEBHOOK_EVENT_CATALOGUE, webhookEventSchema } from './event-catalogue.ts';

/** The markers between which docs/webhooks.md holds the generated catalogue. */
export const CATALOGUE_START = '<!-- event-catalogue:start -->';
export const CATALOGUE_END = '<!-- event-catalogue:end -->';

const json = (value: unknown): string => ['```json', JSON.stringify(value, null, 2), '```'].join('\n');

/**
 * The event catalogue as Markdown, from the schemas themselves: per event, when it is sent, the
 * JSON Schema of the delivered body and an example. docs/webhooks.md carries exactly this text.
 */
export function eventCatalogueMarkdown(): string {
  const events = Object.keys(WEBHOOK_EVENT_CATALOGUE) as WebhookEvent[];
  const sections = events.map((event) => {
    const entry = WEBHOOK_EVENT_CATALOGUE[event];
    const example = {
      id: 'evt_9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
      type: event,
      createdAt: '2026-12-03T14:05:09.123Z',
      data: entry.example,
    };
    return [
      `### \`${event}\``,
      '',
      entry.when,
      '',
      'Example:',
      '',
      json(example),
      '',
      '<details><summary>JSON Schema of the body</summary>',
      '',
      json(webhookEventSchema(event)),
      '',
      '</details>',
    ].join('\n');
  });
  return [
    CATALOGUE_START,
    '',
    '<!-- Generated from src/webhooks/event-catalogue.ts; INDICIA_UPDATE_DOCS=1 npm test -- test/api/webhook-catalogue.test.ts rewrites it. -->',
    '',
    `| event | when |`,
    `| --- | --- |`,
    ...events.map(
      (event) => `| [\`${event}\`](#${event.replace('.', '')}) | ${WEBHOOK_EVENT_CATALOGUE[event].when} |`,
    ),
    '',
    sections.join('\n\n'),
    '',
    CATALOGUE_END,
  ].join('\n');
}
