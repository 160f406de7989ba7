// Drives the Node `openai` SDK's realtime WebSocket client (OpenAIRealtimeWS) through a
// plan written by the Python test: send events, wait for event types, capture fields.
// Prints one JSON line per server event the SDK emitted (audio deltas summarised).
// Usage: node mock_plan.mjs PORT ga|beta plain|tls PLAN.json
import fs from 'node:fs';
import net from 'node:net';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { OpenAIRealtimeWS as BetaRealtimeWS } from 'openai/beta/realtime/ws';

const [port, dialect, transport, planFile] = process.argv.slice(2);
const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
const client = new OpenAI({ apiKey: 'sk-test-node-dummy-0000', baseURL: `https://127.0.0.1:${port}/v1` });
const options = transport === 'tls'
  ? { rejectUnauthorized: false }
  : { createConnection: (o) => net.connect({ host: o.host, port: Number(o.port) }) };
const Cls = dialect === 'beta' ? BetaRealtimeWS : OpenAIRealtimeWS;
const model = dialect === 'beta' ? 'gpt-4o-realtime-preview' : 'gpt-realtime';
const rt = new Cls({ model, options }, client);

const received = [];
let cursor = 0;
let wake = null;
const vars = {};
const timer = setTimeout(() => { console.log(JSON.stringify({ fatal: 'timeout' })); process.exit(2); }, 30000);

rt.on('error', (err) => { console.log(JSON.stringify({ fatal: String(err.message || err) })); process.exit(1); });
rt.on('event', (ev) => {
  const line = { ...ev };
  if (typeof line.delta === 'string' && line.delta.length > 64) line.delta = `<${line.delta.length} chars>`;
  if (line.type === 'session.created' || line.type === 'session.updated') line.session = { id: ev.session.id };
  console.log(JSON.stringify(line));
  received.push(ev);
  if (wake) { const w = wake; wake = null; w(); }
});

async function until(type) {
  for (;;) {
    while (cursor < received.length) {
      const ev = received[cursor++];
      if (ev.type === type) return ev;
    }
    await new Promise((resolve) => { wake = resolve; });
  }
}

function fill(event) {
  return JSON.parse(JSON.stringify(event).replace(/"\$(\w+)"/g, (_, name) => JSON.stringify(vars[name])));
}

rt.socket.on('open', async () => {
  await until('session.created');
  for (const step of plan) {
    if (step.send) rt.send(fill(step.send));
    if (step.send_many) for (const ev of step.send_many) rt.send(fill(ev));
    if (step.until) {
      const ev = await until(step.until);
      for (const [name, field] of Object.entries(step.capture || {})) vars[name] = ev[field];
    }
  }
  clearTimeout(timer);
  rt.close();
});
rt.socket.on('close', () => process.exit(0));
