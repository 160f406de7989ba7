// Drives the Node `openai` SDK's GPT-Live client (LiveWS) through one session: start, stream
// the audio chunks given, wait for the spoken reply, close. Prints one JSON line per server
// event the SDK emitted (audio deltas summarised), then {"done": true}.
// Usage: node live_session.mjs BASE_URL CHUNKS.json
import fs from 'node:fs';
import OpenAI from 'openai';
import { LiveWS } from 'openai/resources/live/ws';

const [baseURL, chunksFile] = process.argv.slice(2);
const chunks = JSON.parse(fs.readFileSync(chunksFile, 'utf8'));
const client = new OpenAI({ apiKey: 'sk-test-node-live-0000', baseURL });
const live = new LiveWS(client);
const received = [];
let wake = null;
const timer = setTimeout(() => { console.log(JSON.stringify({ fatal: 'timeout' })); process.exit(2); }, 30000);

live.on('error', (err) => { console.log(JSON.stringify({ fatal: String(err.message || err) })); process.exit(1); });
live.on('event', (ev) => {
  const line = { ...ev };
  if (typeof line.delta === 'string' && line.delta.length > 64) line.delta = `<${line.delta.length} chars>`;
  console.log(JSON.stringify(line));
  received.push(ev);
  if (wake) { const w = wake; wake = null; w(); }
});

let cursor = 0;
async function until(type) {
  for (;;) {
    while (cursor < received.length) {
      if (received[cursor++].type === type) return;
    }
    await new Promise((resolve) => { wake = resolve; });
  }
}

live.send({ type: 'session.start', event_id: 'start', session: {
  model: 'gpt-live-1', audio: { format: { type: 'audio/pcm', rate: 24000 }, output: { voice: 'marin' } } } });
await until('session.started');
for (const audio of chunks) live.send({ type: 'session.input_audio.append', audio });
await until('session.output_transcript.delta');
live.send({ type: 'session.close', event_id: 'bye' });
await until('session.closed');
live.close({ code: 1000, reason: 'OK' });
clearTimeout(timer);
console.log(JSON.stringify({ done: true }));
