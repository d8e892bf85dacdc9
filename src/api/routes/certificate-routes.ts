import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuthorityService } from '../../authority/index.ts';

const PEM = 'application/x-pem-file';

/**
 * The certificate authority's certificate and every meter certificate, as PEM, for anyone who
 * verifies indicia. Public: certificates are not secret.
 */
export function certificateRoutes(
  authority: Pick<AuthorityService, 'caCertificate' | 'certificate'>,
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
