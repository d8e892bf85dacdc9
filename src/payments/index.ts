export { PaymentError, type PaymentErrorCode } from './payment-error.ts';
export type { CardAuthorization, CardDetails, PaymentProcessor } from './payment-processor.ts';
export { SANDBOX_TEST_CARDS, checkCard, createSandboxProcessor } from './sandbox-processor.ts';
