// load.test.mjs - 32 clients streaming at once against one server with 8
// parallel slots (the rest wait in the queue): every stream must be complete
// and equal to the answer the same greedy request gets alone, and the server
// must end idle (no active sequences, empty queue).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { client, collectChat, startServer } from './helpers.mjs';

const N_CLIENTS = 32;
const PARALLEL = 8;

const TOPICS = ['a red ball', 'a sleepy cat', 'the big tree', 'a little boat', 'a kind dragon', 'the moon', 'a lost shoe', 'a birthday cake'];

// The request of client i: eight distinct conversations, each asked by four
// clients, with answers of different lengths so that sequences join and
// leave the batch at different steps.
function request(i) {
  const k = i % TOPICS.length;
  return {
    model: 'stories260K',
    messages: [{ role: 'user', content: `Tell me a story about ${TOPICS[k]}.` }],
    max_tokens: 24 + 8 * k,
    temperature: 0,
  };
}

async function metric(srv, name) {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const m = new RegExp(`^${name} ([0-9.]+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

describe(`${N_CLIENTS} concurrent streams, --parallel ${PARALLEL}`, () => {
  let srv, ai;
  before(async () => {
    srv = await startServer('models/stories260K.gguf', [
      '-t', '1', '--parallel', String(PARALLEL), '-c', '512', '--max-queue', String(N_CLIENTS),
    ]);
    ai = client(srv);
  });
  after(async () => {
    const e = await srv?.stop();
    assert.equal(e?.code, 0, `server exit ${JSON.stringify(e)}`);
  });

  test('every stream is complete and equals the answer alone', async () => {
    // alone: one request at a time
    const alone = [];
    for (let k = 0; k < TOPICS.length; k++) {
      const r = await ai.chat.completions.create(request(k));
      assert.ok(r.choices[0].message.content.length > 0);
      alone.push(r);
    }
    // under load: all at once, streamed, with the usage chunk
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: N_CLIENTS }, async (_, i) => {
        const s = await ai.chat.completions.create({ ...request(i), stream: true, stream_options: { include_usage: true } });
        const got = await collectChat(s);
        return { i, ...got, usage: got.chunks[got.chunks.length - 1].usage };
      }),
    );
    const ms = Date.now() - t0;
    for (const r of results) {
      const want = alone[r.i % TOPICS.length];
      assert.equal(r.content, want.choices[0].message.content, `client ${r.i}: text under load differs from alone`);
      assert.equal(r.finish, want.choices[0].finish_reason, `client ${r.i}: finish`);
      assert.equal(r.role, 'assistant');
      assert.equal(r.usage?.completion_tokens, want.usage.completion_tokens, `client ${r.i}: usage`);
      assert.equal(r.usage?.prompt_tokens, want.usage.prompt_tokens);
    }
    // and alone again afterwards: still the same
    for (let k = 0; k < TOPICS.length; k += 3) {
      const r = await ai.chat.completions.create(request(k));
      assert.equal(r.choices[0].message.content, alone[k].choices[0].message.content);
    }
    assert.equal(await metric(srv, 'hearth_active_sequences'), 0);
    assert.equal(await metric(srv, 'hearth_queue_depth'), 0);
    assert.ok(ms < 120000, `${N_CLIENTS} streams took ${ms} ms`);
  });

  test('mixed load: streams, plain requests and dropped clients together', async () => {
    const want = await ai.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 40, temperature: 0 });
    const jobs = [];
    for (let i = 0; i < N_CLIENTS; i++) {
      if (i % 4 === 3) {
        // a client that leaves after its first chunk
        jobs.push((async () => {
          const ctl = new AbortController();
          const s = await ai.completions.create(
            { model: 'stories260K', prompt: 'Once', max_tokens: 400, logit_bias: { 2: -100 }, stream: true },
            { signal: ctl.signal },
          );
          for await (const ch of s) {
            void ch;
            ctl.abort();
          }
          return null;
        })());
      } else {
        const stream = i % 2 === 0;
        jobs.push((async () => {
          const body = { model: 'stories260K', prompt: 'Once upon a time', max_tokens: 40, temperature: 0 };
          if (!stream) return (await ai.completions.create(body)).choices[0].text;
          let text = '';
          for await (const ch of await ai.completions.create({ ...body, stream: true })) text += ch.choices[0]?.text ?? '';
          return text;
        })());
      }
    }
    const texts = await Promise.all(jobs);
    texts.forEach((t, i) => {
      if (t !== null) assert.equal(t, want.choices[0].text, `client ${i}`);
    });
    // the dropped ones are cancelled: the server goes idle
    let active = -1;
    for (let k = 0; k < 50 && active !== 0; k++) {
      active = await metric(srv, 'hearth_active_sequences');
      if (active) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(active, 0, 'no sequence left running');
    const h = await fetch(`${srv.url}/health`);
    assert.equal(h.status, 200);
  });
});
