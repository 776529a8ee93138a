// The event schemas as a receiver gets them (GET /api/v1/event-types/{type} from a real
// webhookd), checked by a well-kept JSON Schema 2020-12 validator (ajv, strict mode, formats
// asserted): each schema compiles, its example is valid, and for payloads broken in many ways
// ajv and webhookd's ingest (422, a JSON-pointer path per field) name the same fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { startWebhookd } from './lib.mjs';

// ajv's errors as webhookd writes fields: "data" + instancePath, with the missing or unknown
// property appended for required and additionalProperties.
function ajvFields(errors) {
  const fields = new Set();
  for (const e of errors ?? []) {
    let path = 'data' + e.instancePath;
    if (e.keyword === 'required') path += '/' + e.params.missingProperty;
    if (e.keyword === 'additionalProperties') path += '/' + e.params.additionalProperty;
    fields.add(path);
  }
  return [...fields].sort();
}

// Ways to break a valid payload, each a function of a copy of the example.
function breakages(schema, example) {
  const out = [];
  for (const key of schema.required) {
    out.push([`without ${key}`, (d) => { delete d[key]; }]);
  }
  out.push(['an unknown field', (d) => { d.unexpected = true; }]);
  out.push(['an actor of an unknown type', (d) => { d.actor.type = 'robot'; }]);
  out.push(['an actor without an id and with a bad email', (d) => {
    delete d.actor.id; d.actor.email = 'not-an-email';
  }]);
  const resource = Object.keys(example).find((k) => k !== 'actor' && k !== 'changes' &&
                                               typeof example[k] === 'object');
  for (const [field, value] of Object.entries(example[resource])) {
    if (typeof value === 'string') {
      out.push([`${resource}.${field} as a number`, (d) => { d[resource][field] = 12345; }]);
    }
  }
  out.push([`${resource} as an array`, (d) => { d[resource] = []; }]);
  return out;
}

test('every event schema is valid 2020-12 for ajv, and ajv and ingest agree on what is wrong',
  { timeout: 120000 }, async () => {
    const server = await startWebhookd();
    try {
      const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
      addFormats(ajv, ['date-time', 'email']);
      const list = await server.api('GET', '/api/v1/event-types');
      assert.equal(list.status, 200);
      assert.equal(list.body.data.length, 25);
      let compared = 0;
      for (const { id } of list.body.data) {
        const r = await server.api('GET', `/api/v1/event-types/${id}`);
        assert.equal(r.status, 200, id);
        const validate = ajv.compile(r.body.schema);
        assert.equal(validate(r.body.example), true,
                     `${id} example: ${JSON.stringify(validate.errors)}`);
        for (const [what, breakIt] of breakages(r.body.schema, r.body.example)) {
          const data = structuredClone(r.body.example);
          breakIt(data);
          assert.equal(validate(data), false, `${id} ${what}: ajv accepted it`);
          const ingest = await server.api('POST', '/api/v1/events', { type: id, data });
          assert.equal(ingest.status, 422, `${id} ${what}: ${JSON.stringify(ingest.body)}`);
          const fields = [...new Set(ingest.body.error.fields.map((f) => f.field))].sort();
          assert.deepEqual(fields, ajvFields(validate.errors), `${id} ${what}`);
          compared++;
        }
      }
      assert.ok(compared > 250, `only ${compared} broken payloads compared`);
    } finally {
      await server.stop();
    }
  });
