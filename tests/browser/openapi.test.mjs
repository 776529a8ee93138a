// GET /api/v1/openapi.json from a real webhookd, without a token, is a valid OpenAPI 3.1
// document for a well-kept validator (@apidevtools/swagger-parser, with its schema and
// reference checks), and the service routes it names outside /api/v1 answer. (That /api/v1 in
// the document is exactly what the API registers is tests/backend/unit/openapi_test.cpp.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import SwaggerParser from '@apidevtools/swagger-parser';
import { startWebhookd } from './lib.mjs';

test('the served OpenAPI document is valid 3.1 and its service routes exist',
  { timeout: 60000 }, async () => {
    const server = await startWebhookd();
    try {
      const r = await fetch(new URL('api/v1/openapi.json', server.url));
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /application\/json/);
      const doc = await r.json();
      assert.equal(doc.openapi, '3.1.0');
      const api = await SwaggerParser.validate(structuredClone(doc));
      assert.ok(Object.keys(api.paths).length >= 19);
      // Every documented error response uses the one error shape.
      for (const [name, response] of Object.entries(doc.components.responses)) {
        assert.equal(response.content['application/json'].schema.$ref,
                     '#/components/schemas/Error', name);
      }
      for (const path of Object.keys(doc.paths).filter((p) => !p.startsWith('/api/v1/'))) {
        const answer = await fetch(new URL(path.slice(1), server.url));
        assert.notEqual(answer.status, 404, path);
      }
      // A route the document says needs a token refuses a request without one.
      assert.equal((await fetch(new URL('api/v1/webhooks', server.url))).status, 401);
    } finally {
      await server.stop();
    }
  });
