// End-to-end test of `parley mcp` and the hub's MCP endpoints with the
// official TypeScript SDK client, the one most MCP clients build on.
// e2e/mcp_ts_test.go runs it with:
//   PARLEY_BIN     the parley binary
//   PARLEY_URL     a free loopback hub address; the first bridge becomes the hub
//   PARLEY_DATA    the hub's data directory
//   PARLEY_CONFIG  where bridges keep agent tokens
// It prints one line per check and exits non-zero on the first failure.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";

const bin = mustEnv("PARLEY_BIN");
const hubURL = mustEnv("PARLEY_URL");
const dataDir = mustEnv("PARLEY_DATA");
mustEnv("PARLEY_CONFIG");

function mustEnv(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`FAIL: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

function check(cond, what, detail) {
  if (!cond) {
    throw new Error(`${what}${detail === undefined ? "" : `: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`}`);
  }
  console.log(`ok: ${what}`);
}

function text(result) {
  return (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("");
}

async function call(client, name, args = {}) {
  const res = await client.callTool({ name, arguments: args }, undefined, { timeout: 90_000 });
  if (res.isError) {
    throw new Error(`${name} failed: ${text(res)}`);
  }
  return res;
}

// waitFor polls fn until it returns a truthy value or the deadline passes.
async function waitFor(what, fn, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// stdioAgent spawns `parley mcp` as an MCP client would.
async function stdioAgent(name, extraArgs = []) {
  const transport = new StdioClientTransport({
    command: bin,
    args: ["mcp", "--name", name, "--log-level", "warn", ...extraArgs],
    env: { ...process.env },
    stderr: "inherit",
  });
  const client = new Client({ name: "claude-code", version: "2.1.80" }, { capabilities: {} });
  const notes = [];
  client.fallbackNotificationHandler = async (n) => {
    if (n.method === "notifications/claude/channel") notes.push(n.params);
  };
  await client.connect(transport);
  return { client, notes, close: () => client.close() };
}

const clients = [];
let failed = false;
try {
  // Two agents over stdio; the first one to start becomes the hub.
  const alice = await stdioAgent("alice");
  clients.push(alice);
  const bob = await stdioAgent("bob", ["--push", "claude-channel", "--role", "backend"]);
  clients.push(bob);

  const caps = bob.client.getServerCapabilities();
  check(caps?.experimental?.["claude/channel"] !== undefined, "bob declares experimental claude/channel", caps);
  check(alice.client.getServerCapabilities()?.experimental?.["claude/channel"] === undefined, "alice (no push) does not declare it");
  const instructions = bob.client.getInstructions() ?? "";
  check(instructions.includes("authenticated sender"), "server instructions explain the workflow");

  const tools = await alice.client.listTools();
  const names = tools.tools.map((t) => t.name);
  for (const want of ["send", "wait", "read", "peers", "command_send", "command_next", "signal_wait", "state_set"]) {
    check(names.includes(want), `stdio tools include ${want}`);
  }

  const who = text(await call(alice.client, "whoami"));
  check(who.includes("You are alice"), "alice is registered as alice", who);
  await waitFor("bob online", async () => text(await call(alice.client, "peers")).includes("bob"));
  check(true, "alice sees bob online");

  // bob sends; alice's wait returns it.
  const waiting = call(alice.client, "wait", { timeout_seconds: 30 });
  await call(bob.client, "send", { to: "alice", body: "hello alice, from bob" });
  const got = text(await waiting);
  check(got.includes("hello alice, from bob") && got.includes("from bob (authenticated)"), "alice's wait returns bob's message", got);

  // alice sends; bob has push on and gets a channel notification.
  await call(alice.client, "send", { to: "bob", body: "please start the server", importance: "high" });
  const note = await waitFor("a channel notification for bob", async () => bob.notes.find((n) => n.content.includes("please start the server")));
  check(note.meta?.from === "alice" && note.meta?.kind === "message" && /^\d+$/.test(note.meta?.id ?? ""), "notification meta names the sender and id", note.meta);
  check(note.content.includes("from alice (authenticated)"), "notification content marks the authenticated sender", note.content);
  check(Object.keys(note.meta).every((k) => /^[A-Za-z0-9_]+$/.test(k)), "meta keys are letters, digits and _", note.meta);
  // The bridge marks a message read once its push was written, which may
  // land just after the notification: peek until it has, never consuming.
  const unread = await waitFor("the pushed message to count as read", async () => {
    const t = text(await call(bob.client, "read", { peek: true }));
    return t.includes("No unread messages") ? t : null;
  });
  check(unread.includes("No unread messages"), "a pushed message counts as read", unread);

  // A third client over Streamable HTTP at /mcp, authenticated with the
  // admin secret of the hub's data directory: it registers and sends.
  const secret = readFileSync(join(dataDir, "admin.secret"), "utf8").trim();
  const headers = { Authorization: `Bearer ${secret}` };
  const web = new Client({ name: "web-agent", version: "1" }, { capabilities: {} });
  await web.connect(new StreamableHTTPClientTransport(new URL(`${hubURL}/mcp`), { requestInit: { headers } }));
  clients.push({ close: () => web.close() });
  const webTools = (await web.listTools()).tools.map((t) => t.name);
  check(webTools.includes("send") && webTools.includes("peers") && webTools.length >= 20, "Streamable HTTP lists the tools", webTools);
  const reg = text(await call(web, "register", { name: "web", role: "ops" }));
  check(reg.includes("Registered as web"), "the HTTP client registers", reg);
  await call(web, "send", { to: "alice", body: "hello over streamable http" });
  const fromWeb = text(await call(alice.client, "wait", { timeout_seconds: 30 }));
  check(fromWeb.includes("hello over streamable http") && fromWeb.includes("from web (authenticated)"), "alice gets the HTTP client's message", fromWeb);

  // Seed 001's transport: MCP over SSE at /mcp/sse.
  const sse = new Client({ name: "seed-client", version: "1" }, { capabilities: {} });
  await sse.connect(new SSEClientTransport(new URL(`${hubURL}/mcp/sse`), { requestInit: { headers } }));
  clients.push({ close: () => sse.close() });
  const sseTools = (await sse.listTools()).tools.map((t) => t.name);
  check(sseTools.includes("command_send") && sseTools.includes("signal_wait"), "SSE at /mcp/sse lists the tools", sseTools);
  const peers = text(await call(sse, "peers"));
  check(peers.includes("alice") && peers.includes("bob"), "SSE client sees the agents", peers);

  // Without credentials the hub refuses MCP.
  const anon = new Client({ name: "anon", version: "1" }, { capabilities: {} });
  let refused = false;
  try {
    await anon.connect(new StreamableHTTPClientTransport(new URL(`${hubURL}/mcp`)));
  } catch (e) {
    refused = true;
  }
  check(refused, "an unauthenticated HTTP client is refused");
  console.log("PASS");
} catch (e) {
  failed = true;
  console.error(`FAIL: ${e?.stack ?? e}`);
} finally {
  for (const c of clients.reverse()) {
    try {
      await c.close();
    } catch {
      // closing is best effort
    }
  }
}
process.exit(failed ? 1 : 0);
