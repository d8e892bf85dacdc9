export { createDemoAccountsIfEmpty, type DemoCredential } from './demo-accounts.ts';
