// FoxReload relay delivery webhook receiver: Node.js 18+, built-in modules only (no npm install).
//
// Verifies the Standard Webhooks signature (webhook-id, webhook-timestamp, webhook-signature),
// rejects stale timestamps, deduplicates on webhook-id (= Idempotency-Key) and answers:
//   200 accepted (also for a duplicate: the relay must stop retrying), 401 bad signature,
//   400 body not JSON. Any other 4xx makes the relay dead-letter the order; 5xx/429/408 or no
//   answer make it retry later with the same webhook-id and the same body.
//
//   WEBHOOK_SECRET='whsec_...' PORT=8080 node receiver.mjs
//
// WEBHOOK_SECRET: the relay's webhook secret (whsec_<base64>, or a plain string: then its UTF-8
// bytes are the key). Several, separated by spaces, are all accepted (a storefront that wants to
// hold the old and the new secret during a rotation). PORT=0 picks a free port. HOST: 127.0.0.1.
// Never log the codes: this example logs the webhook-id, event and code count only.

import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const TOLERANCE_SECONDS = 300;
const MAX_BODY_BYTES = 1024 * 1024;

function keyOf(secret) {
  return secret.startsWith("whsec_")
    ? Buffer.from(secret.slice("whsec_".length), "base64")
    : Buffer.from(secret, "utf8");
}

const keys = (process.env.WEBHOOK_SECRET ?? "").split(/\s+/).filter(Boolean).map(keyOf);
if (keys.length === 0 || keys.some((k) => k.length === 0)) {
  console.error("set WEBHOOK_SECRET to the relay's webhook secret (whsec_...)");
  process.exit(2);
}

// True when one v1 entry of webhook-signature matches one key and the timestamp is fresh.
export function verifyStandardWebhook(headers, rawBody, nowSeconds = Date.now() / 1000) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signature = headers["webhook-signature"];
  if (!id || !timestamp || !signature) return false;
  if (!/^[0-9]{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > TOLERANCE_SECONDS) return false;
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`, "utf8"), rawBody]);
  const candidates = signature
    .split(" ")
    .filter((entry) => entry.startsWith("v1,"))
    .map((entry) => Buffer.from(entry.slice(3), "base64"));
  let matched = false;
  for (const key of keys) {
    const expected = createHmac("sha256", key).update(signed).digest();
    for (const candidate of candidates) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) {
        matched = true;
      }
    }
  }
  return matched;
}

// A real storefront records the webhook-id in the same database transaction that fulfils the
// order (a unique constraint), so a crash between the two cannot lose or double a delivery.
const seen = new Set();

function answer(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const server = createServer((req, res) => {
  if (req.method !== "POST") return answer(res, 405, { error: "POST only" });
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) req.destroy();
    else chunks.push(chunk);
  });
  req.on("end", () => {
    const rawBody = Buffer.concat(chunks); // verify the raw bytes, before any JSON parsing
    if (!verifyStandardWebhook(req.headers, rawBody)) {
      return answer(res, 401, { error: "invalid signature" });
    }
    let payload;
    try {
      payload = JSON.parse(rawBody.toString("utf8"));
    } catch {
      return answer(res, 400, { error: "body is not JSON" });
    }
    const id = req.headers["webhook-id"];
    if (seen.has(id)) return answer(res, 200, { received: true, duplicate: true });
    seen.add(id);
    const codes = (payload.items ?? []).reduce((n, item) => n + (item.codes ?? []).length, 0);
    // Fulfil here: payload.event is order.delivered, order.failed or order.cancelled.
    console.log(JSON.stringify({ accepted: id, event: payload.event, codes }));
    return answer(res, 200, { received: true, duplicate: false });
  });
});

server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? "127.0.0.1", () => {
  const { address, port } = server.address();
  console.log(`listening on http://${address}:${port}`);
});
