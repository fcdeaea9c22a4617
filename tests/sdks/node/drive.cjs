// Send identify/track/page/group/alias with a Node tracking SDK in its default
// configuration (batched, gzip where the SDK gzips by default), then close it, which
// flushes. Usage: node drive.cjs segment|rudderstack <host> <write key> <run id>
"use strict";

const [sdk, host, writeKey, run] = process.argv.slice(2);

const calls = [
  ["identify", { userId: `${run}-user`, traits: { email: `${run}@example.com`, plan: "pro" } }],
  ["track", { userId: `${run}-user`, event: "Order Completed", properties: { total: 12.5 } }],
  ["page", { anonymousId: `${run}-anon`, name: "Pricing", properties: { path: "/pricing" } }],
  ["group", { userId: `${run}-user`, groupId: `${run}-company`, traits: { name: "Initech" } }],
  ["alias", { userId: `${run}-user`, previousId: `${run}-anon` }],
];

async function main() {
  let client;
  let close;
  if (sdk === "segment") {
    const { Analytics } = require("@segment/analytics-node");
    client = new Analytics({ writeKey, host });
    const failures = [];
    client.on("error", (error) => failures.push(error));
    close = async () => {
      await client.closeAndFlush();
      if (failures.length) throw new Error(`segment: ${failures.map(String).join("; ")}`);
    };
  } else if (sdk === "rudderstack") {
    const Analytics = require("@rudderstack/rudder-sdk-node");
    const failures = [];
    client = new Analytics(writeKey, {
      dataPlaneUrl: host,
      errorHandler: (error) => failures.push(error),
    });
    close = async () => {
      await client.flush();
      if (failures.length) throw new Error(`rudderstack: ${failures.map(String).join("; ")}`);
    };
  } else {
    throw new Error(`unknown sdk ${sdk}`);
  }
  for (const [method, message] of calls) client[method](message);
  await close();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error && error.stack ? error.stack : String(error));
    process.exit(1);
  },
);
