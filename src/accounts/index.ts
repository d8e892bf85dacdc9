export { createDemoAccountsIfEmpty, generatePassword, type DemoCredential } from './demo-accounts.ts';
