// Node openai SDK (OpenAIRealtimeWS, GA) through a TLS listener: session.update,
// conversation.item.create, wait for conversation.item.done, close. Prints event types.
// Usage: node node_realtime_ws.mjs PORT
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';

const port = process.argv[2];
const client = new OpenAI({ apiKey: 'sk-test-node-canary-000000001234', baseURL: `https://127.0.0.1:${port}/v1` });
const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime', options: { rejectUnauthorized: false } }, client);
const timer = setTimeout(() => { console.log('timeout'); process.exit(2); }, 15000);
rt.on('error', (err) => { console.log(`error: ${err.message}`); process.exit(1); });
rt.on('event', (ev) => {
  console.log(ev.type);
  if (ev.type === 'session.created') {
    rt.send({ type: 'session.update', session: { type: 'realtime', output_modalities: ['text'] } });
    rt.send({ type: 'conversation.item.create',
      item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hello from node' }] } });
  }
  if (ev.type === 'conversation.item.done') { clearTimeout(timer); rt.close(); }
});
rt.socket.on('close', () => process.exit(0));
