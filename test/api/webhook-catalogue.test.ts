import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as prettier from 'prettier';
import { Value } from 'typebox/value';
import type { WebhookEvent } from '../../src/store/index.ts';
import {
  CATALOGUE_END,
  CATALOGUE_START,
  WEBHOOK_EVENTS,
  WEBHOOK_EVENT_CATALOGUE,
  eventCatalogueMarkdown,
  webhookEventSchema,
} from '../../src/webhooks/index.ts';

const root = join(import.meta.dirname, '..', '..');
const docPath = join(root, 'docs', 'webhooks.md');

/** docs/webhooks.md as it must read: its catalogue section generated again, then formatted. */
async function expectedDoc(current: string): Promise<string> {
  const start = current.indexOf(CATALOGUE_START);
  const end = current.indexOf(CATALOGUE_END);
  assert.ok(
    start >= 0 && end > start,
    `docs/webhooks.md has no ${CATALOGUE_START} … ${CATALOGUE_END} section`,
  );
  const text = current.slice(0, start) + eventCatalogueMarkdown() + current.slice(end + CATALOGUE_END.length);
  const options = (await prettier.resolveConfig(docPath)) ?? {};
  return prettier.format(text, { ...options, filepath: docPath });
}

describe('the webhook event catalogue', () => {
  it('has an entry for every event a subscription may name, and nothing else', () => {
    assert.deepEqual(Object.keys(WEBHOOK_EVENT_CATALOGUE), [...WEBHOOK_EVENTS]);
    const all: Record<WebhookEvent, true> = {
      'funds.posted': true,
      'indicium.issued': true,
      'refund.decided': true,
      'balance.low': true,
    };
    assert.deepEqual([...WEBHOOK_EVENTS].sort(), Object.keys(all).sort());
  });

  it("has examples that are valid under their own schemas, and schemas that refuse fields they don't name", () => {
    for (const event of WEBHOOK_EVENTS) {
      const schema = webhookEventSchema(event);
      const body = {
        id: 'evt_00000000-0000-4000-8000-000000000000',
        type: event,
        createdAt: '2026-12-03T14:05:09.123Z',
        data: WEBHOOK_EVENT_CATALOGUE[event].example,
      };
      const errors = [...Value.Errors(schema, body)].map((error) => `${error.instancePath} ${error.message}`);
      assert.deepEqual(errors, [], event);
      assert.equal(Value.Check(schema, { ...body, data: { ...body.data, unnamed: 1 } }), false, event);
      assert.equal(Value.Check(schema, { ...body, type: 'other.event' }), false, event);
    }
  });

  it('is what docs/webhooks.md says, generated from the schemas (INDICIA_UPDATE_DOCS=1 rewrites it)', async () => {
    const current = readFileSync(docPath, 'utf8');
    const expected = await expectedDoc(current);
    if (process.env['INDICIA_UPDATE_DOCS'] === '1' && current !== expected) writeFileSync(docPath, expected);
    else
      assert.ok(
        current === expected,
        'docs/webhooks.md is out of date with src/webhooks/event-catalogue.ts: run INDICIA_UPDATE_DOCS=1 npm test -- test/api/webhook-catalogue.test.ts',
      );
    for (const event of WEBHOOK_EVENTS) assert.ok(current.includes(`### \`${event}\``), event);
  });

  it('is linked from docs/api.md', () => {
    const api = readFileSync(join(root, 'docs', 'api.md'), 'utf8');
    assert.ok(/\]\(webhooks\.md(#[^)]*)?\)/.test(api), 'docs/api.md does not link docs/webhooks.md');
  });
});
