import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuthorityService } from '../../authority/index.ts';

const PEM = 'application/x-pem-file';

/**
 * The certificate authority's certificates, its CRLs and every meter certificate, as PEM, for
 * anyone who verifies indicia. Public: certificates and CRLs are not secret.
 */
export function certificateRoutes(
  authority: Pick<AuthorityService, 'caCertificate' | 'certificate' | 'caGenerations' | 'revocationLists'>,
): FastifyPluginAsyncTypebox {
  return (app) => {
    app.get(
      '/v1/authority/ca',
      {
        config: { access: { public: true } },
        schema: {
          tags: ['certificates'],
          summary:
            "The certificate authority's certificate (PEM): the root every meter certificate chains to",
          produces: [PEM],
          response: {
            200: Type.String({
              description: 'PEM',
              examples: ['-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----'],
            }),
          },
        },
      },
      async (_request, reply) => reply.type(PEM).send((await authority.caCertificate()).pem),
    );

    app.get(
      '/v1/authority/ca-certificates',
      {
        config: { access: { public: true } },
        schema: {
          tags: ['certificates'],
          summary:
            "Every CA generation's self-signed certificate, oldest first (PEM); each carries the SHA-256 of the next CA key (extension 1.3.6.1.4.1.32473.1.1)",
          produces: [PEM],
          response: { 200: Type.String({ description: 'PEM, one certificate after another' }) },
        },
      },
      async (_request, reply) =>
        reply.type(PEM).send(
          (await authority.caGenerations())
            .filter((generation) => generation.isTrusted)
            .map((generation) => generation.certificate.pem)
            .join(''),
        ),
    );

    app.get(
      '/v1/authority/cross-certificates',
      {
        config: { access: { public: true } },
        schema: {
          tags: ['certificates'],
          summary:
            'Each newer CA key certified by the one before it (PEM): with these as untrusted intermediates, a verifier who trusts only the first CA verifies every meter',
          produces: [PEM],
          response: {
            200: Type.String({ description: 'PEM, oldest first; empty before the first roll-over' }),
          },
        },
      },
      async (_request, reply) =>
        reply.type(PEM).send(
          (await authority.caGenerations())
            .filter((generation) => generation.isTrusted)
            .flatMap((generation) =>
              generation.crossCertificate === null ? [] : [generation.crossCertificate.pem],
            )
            .join(''),
        ),
    );

    app.get(
      '/v1/authority/crl',
      {
        config: { access: { public: true } },
        schema: {
          tags: ['certificates'],
          summary:
            "The certificate revocation lists (PEM, one per CA generation, each signed by that generation's key): withdrawn, disabled and revoked meters",
          produces: [PEM],
          response: { 200: Type.String({ description: 'PEM, -----BEGIN X509 CRL----- blocks' }) },
        },
      },
      async (_request, reply) => reply.type(PEM).send(await authority.revocationLists()),
    );

    app.get(
      '/v1/certificates/:serial',
      {
        config: { access: { public: true } },
        schema: {
          tags: ['certificates'],
          summary:
            'A certificate by serial (PEM): the serial an indicium carries in bytes 2–9, as 16 hex digits',
          params: Type.Object({
            serial: Type.String({ pattern: '^[0-9a-fA-F]{16}$', examples: ['1302e985809d2e5d'] }),
          }),
          produces: [PEM],
          response: { 200: Type.String({ description: 'PEM' }) },
        },
      },
      async (request, reply) =>
        reply.type(PEM).send((await authority.certificate(request.params.serial)).pem),
    );
    return Promise.resolve();
  };
}
