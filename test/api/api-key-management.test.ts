import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient } from '../../src/client/index.ts';
import { refusal } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

for (const fixture of dialectFixtures) {
  describe(`API keys and webhooks managed by API keys on ${fixture.name}`, () => {
    let server: TestServer;
    let session: IndiciaClient;
    const withKey = (key: string) => new IndiciaClient({ baseUrl: server.indicia.url, apiKey: key });

    before(async () => {
      server = await startTestServer(fixture);
      const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
      assert.ok(demo !== undefined);
      session = new IndiciaClient({ baseUrl: server.indicia.url });
      await session.signIn(demo.email, demo.password);
    });
    after(() => server.stop());

    it('lets a keys:manage key make keys with its own scopes at most, list them, and revoke its own kind', async () => {
      const manager = withKey(
        (await session.createApiKey('backend', ['keys:manage', 'meter:read', 'indicia:read'])).key,
      );
      const child = await manager.createApiKey('reader', ['meter:read']);
      assert.deepEqual(child.apiKey.scopes, ['meter:read']);
      assert.equal((await withKey(child.key).account()).role, 'customer');

      const escalation = await refusal(manager.createApiKey('printer', ['meter:read', 'funds:add']));
      assert.equal(escalation.status, 403);
      assert.equal(escalation.code, 'account.forbidden');
      assert.deepEqual(escalation.details?.['scopes'], ['funds:add']);
      assert.match(escalation.message, /lacks funds:add/);
      const viaWebhooks = await refusal(manager.createApiKey('hooks', ['webhooks:manage']));
      assert.equal(viaWebhooks.code, 'account.forbidden');

      // Rotation: a key like itself, then the old one revoked by the new one.
      const rotated = withKey(
        (await manager.createApiKey('backend 2', ['keys:manage', 'meter:read', 'indicia:read'])).key,
      );
      const listed = await manager.apiKeys();
      assert.ok(listed.some((key) => key.name === 'reader'));
      assert.ok(listed.some((key) => key.name === 'backend 2'));

      const wide = await session.createApiKey('card payments', ['funds:add', 'meter:read']);
      const tooWide = await refusal(rotated.revokeApiKey(wide.apiKey.id));
      assert.equal(tooWide.code, 'account.forbidden');
      assert.match(tooWide.message, /funds:add/);
      assert.ok((await session.apiKeys()).some((key) => key.id === wide.apiKey.id && key.revokedAt === null));

      await rotated.revokeApiKey(child.apiKey.id);
      assert.equal((await refusal(withKey(child.key).account())).status, 401);
      const backend = listed.find((key) => key.name === 'backend');
      assert.ok(backend !== undefined);
      await rotated.revokeApiKey(backend.id);
      assert.equal((await refusal(manager.apiKeys())).status, 401);
      assert.equal(
        (await refusal(rotated.revokeApiKey('0000000000000000'))).code,
        'account.api_key_not_found',
      );

      // A key may revoke itself; its next request is unknown.
      const self = (await rotated.apiKeys()).find((key) => key.name === 'backend 2');
      assert.ok(self !== undefined);
      await rotated.revokeApiKey(self.id);
      assert.equal((await refusal(rotated.apiKeys())).status, 401);
    });

    it('refuses key management to a key without keys:manage, and keeps sessions able to grant every scope', async () => {
      const reader = withKey((await session.createApiKey('reader', ['meter:read', 'webhooks:manage'])).key);
      for (const call of [
        () => reader.apiKeys(),
        () => reader.createApiKey('x', ['meter:read']),
        () => reader.revokeApiKey('0000000000000000'),
      ]) {
        const refused = await refusal(call());
        assert.equal(refused.code, 'account.forbidden');
        assert.match(refused.message, /keys:manage/);
      }
      const all = await session.createApiKey('everything', [
        'meter:read',
        'indicia:read',
        'indicia:issue',
        'indicia:refund',
        'funds:add',
        'devices:enroll',
        'keys:manage',
        'webhooks:manage',
      ]);
      assert.equal(all.apiKey.scopes.length, 8);
      await session.revokeApiKey(all.apiKey.id);
    });

    it('lets a webhooks:manage key subscribe, list, read the log and delete, and nothing less', async () => {
      const hooks = withKey((await session.createApiKey('hooks', ['webhooks:manage'])).key);
      const { webhook, secret } = await hooks.createWebhook('https://example.com/hooks/indicia', [
        'funds.posted',
        'indicium.issued',
      ]);
      assert.match(secret, /^whsec_/);
      assert.deepEqual(
        (await hooks.webhooks()).map((entry) => entry.id),
        [webhook.id],
      );
      assert.ok((await session.webhooks()).some((entry) => entry.id === webhook.id));
      assert.deepEqual(await hooks.webhookDeliveries(webhook.id), []);
      const other = withKey((await session.createApiKey('no hooks', ['meter:read', 'keys:manage'])).key);
      for (const call of [
        () => other.webhooks(),
        () => other.createWebhook('https://example.com/x', ['funds.posted']),
        () => other.deleteWebhook(webhook.id),
      ]) {
        const refused = await refusal(call());
        assert.equal(refused.code, 'account.forbidden');
        assert.match(refused.message, /webhooks:manage/);
      }
      await hooks.deleteWebhook(webhook.id);
      assert.deepEqual(await session.webhooks(), []);
    });
  });
}
