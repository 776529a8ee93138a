// A complete webhook receiver for mambo EMM webhooks in Node.js: HTTPS, the raw body verified
// with the `standardwebhooks` package (signature and a 5-minute timestamp tolerance), each
// event processed once (dedupe on webhook-id).
//
//   npm install standardwebhooks
//   WEBHOOK_SECRET=whsec_... TLS_CERT=cert.pem TLS_KEY=key.pem PORT=8443 node receiver.mjs
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';

const webhook = new Webhook(process.env.WEBHOOK_SECRET);
const seen = new Set();  // use your database in production: ids must survive a restart

const server = createServer({
  cert: readFileSync(process.env.TLS_CERT),
  key: readFileSync(process.env.TLS_KEY),
}, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    // Verify the bytes as they arrived: never a re-serialised JSON object.
    const body = Buffer.concat(chunks).toString('utf8');
    let event;
    try {
      event = webhook.verify(body, req.headers);  // throws on a bad signature or an old timestamp
    } catch (e) {
      console.log(`rejected: ${e.message}`);
      res.writeHead(401).end();
      return;
    }
    const id = req.headers['webhook-id'];
    if (!seen.has(id)) {
      seen.add(id);
      console.log(`verified ${id} ${event.type}`);  // process the event here
    }
    res.writeHead(204).end();  // answer fast; do slow work after
  });
});
server.listen(Number(process.env.PORT ?? 8443), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
