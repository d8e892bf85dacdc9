import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from './index.ts';

const cwd = '/srv/indicia';

function refused(env: Record<string, string>, pattern: RegExp): void {
  assert.throws(
    () => loadConfig({ env, cwd }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.code, 'config.invalid');
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('pricing plans', () => {
  it('defaults to the review window of 60 days, with the seed’s spoilage cap as a second plan', () => {
    const config = loadConfig({ env: {}, cwd });
    assert.equal(config.defaultPricingPlan, 'standard');
    assert.deepEqual(config.pricingPlans, {
      standard: { refundPolicy: { kind: 'review-window', days: 60 } },
      'spoilage-cap': { refundPolicy: { kind: 'spoilage-cap', percent: 1 } },
    });
  });

  it('takes plans from the environment or a config file', () => {
    const plans = { legacy: { refundPolicy: { kind: 'spoilage-cap', percent: 0.5 } } };
    const fromEnv = loadConfig({
      env: { INDICIA_PRICING_PLANS: JSON.stringify(plans), INDICIA_DEFAULT_PRICING_PLAN: 'legacy' },
      cwd,
    });
    assert.deepEqual(fromEnv.pricingPlans, plans);
    const path = join(mkdtempSync(join(tmpdir(), 'indicia-plans-')), 'indicia.json');
    writeFileSync(
      path,
      JSON.stringify({
        pricingPlans: { trial: { refundPolicy: { kind: 'review-window', days: 30 } } },
        defaultPricingPlan: 'trial',
      }),
    );
    const fromFile = loadConfig({ env: {}, cwd, configFile: path });
    assert.deepEqual(fromFile.pricingPlans, { trial: { refundPolicy: { kind: 'review-window', days: 30 } } });
  });

  it('refuses malformed plans and a default that names none, saying what is wrong', () => {
    refused({ INDICIA_PRICING_PLANS: '{not json' }, /must be JSON naming each plan/);
    refused({ INDICIA_PRICING_PLANS: '{}' }, /at least one plan/);
    refused(
      { INDICIA_PRICING_PLANS: '{"Gold":{"refundPolicy":{"kind":"review-window","days":60}}}' },
      /named "Gold"/,
    );
    refused(
      { INDICIA_PRICING_PLANS: '{"standard":{"refundPolicy":{"kind":"review-window","days":0}}}' },
      /D a whole number from 1 to 3650/,
    );
    refused(
      { INDICIA_PRICING_PLANS: '{"standard":{"refundPolicy":{"kind":"spoilage-cap","percent":0.001}}}' },
      /in hundredths/,
    );
    refused(
      { INDICIA_PRICING_PLANS: '{"standard":{"refundPolicy":{"kind":"free"}}}' },
      /spoilage-cap or review-window/,
    );
    refused(
      { INDICIA_PRICING_PLANS: '{"standard":{"refundPolicy":{"kind":"review-window","days":60},"fee":1}}' },
      /nothing else/,
    );
    refused(
      { INDICIA_DEFAULT_PRICING_PLAN: 'gold' },
      /"gold" is not one of the pricingPlans: standard, spoilage-cap/,
    );
  });
});
