// sdk.test.mjs - `hearth serve` driven through the official openai SDK:
// chat (plain, streamed, usage chunk, logprobs), completions against the
// llama.cpp reference (greedy text, echo, prompt logprobs from the reference
// logits), embeddings against the BERT reference, the model list, tool calls,
// structured output, and every error status through the SDK's exception
// classes. Each group starts its own server as a child process on a free port.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { client, collectChat, data, readJSON, startServer, validate } from './helpers.mjs';

const STORIES = 'models/stories260K.gguf';
const ref = readJSON('reference/stories260K.P1.json');
const P1 = ref.prompt;

// The chat used by the plain/stream/usage comparisons.
const CHAT = [
  { role: 'system', content: 'You are a storyteller.' },
  { role: 'user', content: 'Tell me a story about Lily and her dog.' },
];

// log_softmax(row)[id] in float64 for one logits row.
function logprobOf(row, id) {
  let m = -Infinity;
  for (const x of row) m = Math.max(m, x);
  let s = 0;
  for (const x of row) s += Math.exp(x - m);
  return row[id] - m - Math.log(s);
}

describe('stories260K: chat and completions', () => {
  let srv, ai, model;
  before(async () => {
    srv = await startServer(STORIES, ['-t', '1', '--parallel', '2', '-c', '2048']);
    ai = client(srv);
  });
  after(async () => {
    const e = await srv?.stop();
    assert.equal(e?.code, 0, `server exit ${JSON.stringify(e)}\n${srv?.log()}`);
  });

  test('models list and retrieve', async () => {
    const list = [];
    for await (const m of ai.models.list()) list.push(m);
    assert.equal(list.length, 1);
    model = list[0].id;
    assert.equal(model, 'stories260K');
    assert.equal(list[0].object, 'model');
    assert.equal(typeof list[0].created, 'number');
    assert.equal(typeof list[0].owned_by, 'string');
    const one = await ai.models.retrieve(model);
    assert.equal(one.id, model);
    await assert.rejects(ai.models.retrieve('no-such-model'), OpenAI.NotFoundError);
  });

  test('completions: greedy text equals the llama.cpp reference', async () => {
    const r = await ai.completions.create({ model, prompt: P1, max_tokens: 32, temperature: 0 });
    assert.equal(r.object, 'text_completion');
    assert.match(r.id, /^cmpl-/);
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].text, ref.generated_text);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.prompt_tokens, ref.n_prompt_tokens);
    assert.equal(r.usage.completion_tokens, 32);
    assert.equal(r.usage.total_tokens, ref.n_prompt_tokens + 32);

    // token ids as the prompt, streamed
    const s = await ai.completions.create({
      model, prompt: ref.prompt_token_ids, max_tokens: 32, temperature: 0, stream: true,
    });
    let text = '';
    let finish = null;
    for await (const ch of s) {
      assert.equal(ch.object, 'text_completion');
      for (const c of ch.choices) {
        text += c.text;
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    assert.equal(text, ref.generated_text);
    assert.equal(finish, 'length');
  });

  test('completions: echo and logprobs against the reference logits', async () => {
    const n = 8;
    const r = await ai.completions.create({
      model, prompt: P1, max_tokens: n, temperature: 0, echo: true, logprobs: 3,
    });
    const c = r.choices[0];
    const gen = Buffer.concat(ref.generated_pieces_hex.slice(0, n).map((h) => Buffer.from(h, 'hex'))).toString('utf8');
    assert.equal(c.text, P1 + gen, 'echo returns the prompt, then the greedy continuation');
    const lp = c.logprobs;
    const nt = ref.n_prompt_tokens + n;
    assert.equal(lp.tokens.length, nt);
    assert.equal(lp.token_logprobs.length, nt);
    assert.equal(lp.top_logprobs.length, nt);
    assert.equal(lp.text_offset.length, nt);
    assert.equal(lp.tokens.join(''), c.text, 'tokens concatenate to the text');
    let off = 0;
    for (let k = 0; k < nt; k++) {
      assert.equal(lp.text_offset[k], off, `text_offset[${k}]`);
      off += lp.tokens[k].length;
    }
    // prompt token k (k >= 1) is predicted by reference logits row k-1; the
    // first generated token by the last row
    const nv = ref.n_vocab;
    const buf = readFileSync(data(`reference/${ref.logits_file}`));
    const logits = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const row = (i) => logits.subarray(i * nv, (i + 1) * nv);
    const ids = [...ref.prompt_token_ids, ref.generated_ids[0]];
    for (let k = 1; k <= ref.n_prompt_tokens; k++) {
      const want = logprobOf(row(k - 1), ids[k]);
      assert.ok(Math.abs(lp.token_logprobs[k] - want) < 1e-3, `logprob[${k}] ${lp.token_logprobs[k]} vs reference ${want}`);
    }
    for (let k = ref.n_prompt_tokens; k < nt; k++) {
      const top = lp.top_logprobs[k];
      const vals = Object.values(top);
      assert.ok(vals.length >= 1 && vals.length <= 3, `top_logprobs[${k}] size`);
      assert.ok(lp.token_logprobs[k] <= 0);
      assert.ok(Math.abs(lp.token_logprobs[k] - Math.max(...vals)) < 1e-5, 'greedy token has the best logprob');
    }
  });

  let plain;
  test('chat: plain greedy answer', async () => {
    const r = await ai.chat.completions.create({ model, messages: CHAT, max_tokens: 48, temperature: 0 });
    assert.equal(r.object, 'chat.completion');
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.model, model);
    const c = r.choices[0];
    assert.equal(c.index, 0);
    assert.equal(c.message.role, 'assistant');
    assert.equal(typeof c.message.content, 'string');
    assert.ok(c.message.content.length > 0);
    assert.ok(['stop', 'length'].includes(c.finish_reason));
    assert.ok(r.usage.prompt_tokens > 10);
    assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 48);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    plain = r;
    // the same request again gives the same answer (now from the prompt cache)
    const again = await ai.chat.completions.create({ model, messages: CHAT, max_tokens: 48, temperature: 0 });
    assert.equal(again.choices[0].message.content, c.message.content);
    assert.ok(again.usage.prompt_tokens_details.cached_tokens > 0, 'second request hits the prompt cache');
  });

  test('chat: streamed deltas equal the plain answer', async () => {
    const s = await ai.chat.completions.create({ model, messages: CHAT, max_tokens: 48, temperature: 0, stream: true });
    const { content, finish, role, chunks } = await collectChat(s);
    assert.equal(content, plain.choices[0].message.content);
    assert.equal(finish, plain.choices[0].finish_reason);
    assert.equal(role, 'assistant');
    const ids = new Set(chunks.map((ch) => ch.id));
    assert.equal(ids.size, 1, 'one id for all chunks');
    for (const ch of chunks) {
      assert.equal(ch.object, 'chat.completion.chunk');
      assert.ok(!ch.usage, 'no usage without include_usage');
    }
    assert.equal(chunks.filter((ch) => ch.choices.some((c) => c.finish_reason)).length, 1, 'one finish chunk');
  });

  test('chat: stream_options.include_usage', async () => {
    const s = await ai.chat.completions.create({
      model, messages: CHAT, max_tokens: 48, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    const { content, chunks } = await collectChat(s);
    assert.equal(content, plain.choices[0].message.content);
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, [], 'usage chunk has no choices');
    assert.equal(last.usage.completion_tokens, plain.usage.completion_tokens);
    assert.equal(last.usage.prompt_tokens, plain.usage.prompt_tokens);
    assert.equal(last.usage.total_tokens, plain.usage.total_tokens);
    for (const ch of chunks.slice(0, -1)) assert.ok(ch.usage == null, 'usage only in the last chunk');
  });

  test('chat: logprobs', async () => {
    const r = await ai.chat.completions.create({
      model, messages: CHAT, max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 2,
    });
    const c = r.choices[0];
    const lp = c.logprobs.content;
    assert.equal(lp.length, r.usage.completion_tokens);
    assert.equal(lp.map((t) => t.token).join(''), c.message.content);
    for (const t of lp) {
      assert.ok(t.logprob <= 0);
      assert.ok(t.top_logprobs.length >= 1 && t.top_logprobs.length <= 2);
      assert.ok(Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-5, 'greedy token is the best');
      assert.deepEqual(Buffer.from(t.bytes).toString('utf8'), t.token);
    }
    assert.ok(plain.choices[0].message.content.startsWith(c.message.content));
  });

  test('chat: stop strings end the answer before them', async () => {
    const text = plain.choices[0].message.content;
    const word = text.trim().split(/\s+/).find((w) => w.length >= 3 && text.indexOf(w) > 0);
    assert.ok(word, `a word to stop at in ${JSON.stringify(text)}`);
    const r = await ai.chat.completions.create({ model, messages: CHAT, max_tokens: 48, temperature: 0, stop: [word] });
    assert.equal(r.choices[0].message.content, text.slice(0, text.indexOf(word)));
    assert.equal(r.choices[0].finish_reason, 'stop');
  });

  test('bad requests: BadRequestError', async () => {
    const bad = [
      [{ model, messages: CHAT, n: 2 }, 'n'],
      [{ model, messages: CHAT, temperature: 'hot' }, 'temperature'],
      [{ model, messages: CHAT, max_tokens: -3 }, 'max_tokens'],
      [{ model, messages: [] }, 'messages'],
      [{ model, messages: [{ role: 'wizard', content: 'hi' }] }, 'messages[0]'],
      [{ model, messages: [{ role: 'user', content: 42 }] }, 'messages[0].content'],
      [{ model, messages: CHAT, response_format: { type: 'yaml' } }, 'response_format.type'],
      [{ model, messages: CHAT, tools: [{ type: 'function' }] }, 'tools'],
    ];
    for (const [body, param] of bad) {
      await assert.rejects(ai.chat.completions.create(body), (e) => {
        assert.ok(e instanceof OpenAI.BadRequestError, `${JSON.stringify(body)}: ${e}`);
        assert.equal(e.status, 400);
        assert.equal(e.type, 'invalid_request_error');
        assert.ok(typeof e.param === 'string' && e.param.startsWith(param.split('[')[0]), `param ${e.param} for ${param}`);
        return true;
      });
    }
    // a prompt longer than the context
    const long = 'Lily and the dog ran to the park. '.repeat(400);
    await assert.rejects(ai.completions.create({ model, prompt: long, max_tokens: 4 }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.equal(e.code, 'context_length_exceeded');
      return true;
    });
  });
});

describe('structured output and tools', () => {
  let srv, ai, model;
  before(async () => {
    srv = await startServer(STORIES, ['-t', '1', '--parallel', '2', '-c', '2048']);
    ai = client(srv);
    model = 'stories260K';
  });
  after(async () => {
    await srv?.stop();
  });

  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 16 },
      age: { type: 'integer' },
      mood: { enum: ['happy', 'sad', 'sleepy'] },
      pets: { type: 'array', items: { type: 'string', maxLength: 10 }, maxItems: 3 },
      brave: { type: 'boolean' },
    },
    required: ['name', 'age', 'mood', 'pets', 'brave'],
    additionalProperties: false,
  };

  test('response_format json_schema: parses and validates', async () => {
    for (const temperature of [0, 0.9]) {
      const r = await ai.chat.completions.create({
        model, messages: CHAT, max_tokens: 600, temperature, seed: 7,
        response_format: { type: 'json_schema', json_schema: { name: 'girl', strict: true, schema } },
      });
      const text = r.choices[0].message.content;
      assert.equal(r.choices[0].finish_reason, 'stop', `document completed: ${text}`);
      const v = JSON.parse(text);
      assert.deepEqual(validate(schema, v), [], text);
    }
    // streamed, the same constraint
    const s = await ai.chat.completions.create({
      model, messages: CHAT, max_tokens: 600, temperature: 0, stream: true,
      response_format: { type: 'json_schema', json_schema: { name: 'girl', schema } },
    });
    const { content, finish } = await collectChat(s);
    assert.equal(finish, 'stop');
    assert.deepEqual(validate(schema, JSON.parse(content)), [], content);
  });

  test('response_format json_object', async () => {
    const r = await ai.chat.completions.create({
      // stories260K never closes its strings on its own: '}' (byte token
      // <0x7D> = 128) gets a push so that the object ends
      model, messages: [{ role: 'user', content: 'Reply in JSON.' }], max_tokens: 1500, temperature: 0,
      response_format: { type: 'json_object' }, logit_bias: { 128: 8 },
    });
    const text = r.choices[0].message.content;
    assert.equal(r.choices[0].finish_reason, 'stop', `document completed: ${text}`);
    const v = JSON.parse(text);
    assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), text);
    assert.ok(Object.keys(v).length >= 1, `a non-empty object: ${text}`);
    // without the constraint the same bias gives text that is not JSON
    const free = await ai.chat.completions.create({
      model, messages: [{ role: 'user', content: 'Reply in JSON.' }], max_tokens: 40, temperature: 0, logit_bias: { 128: 8 },
    });
    assert.throws(() => JSON.parse(free.choices[0].message.content));
  });

  test('unsupported schema keyword: 400', async () => {
    await assert.rejects(
      ai.chat.completions.create({
        model, messages: CHAT,
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^a+$' } } },
      }),
      OpenAI.BadRequestError,
    );
  });

  const tools = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Current weather of a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
  ];

  // Checks one assistant message that may hold tool calls.
  function checkToolShape(msg, finish) {
    if (msg.tool_calls && msg.tool_calls.length) {
      assert.equal(finish, 'tool_calls');
      for (const tc of msg.tool_calls) {
        assert.equal(typeof tc.id, 'string');
        assert.ok(tc.id.length > 0);
        assert.equal(tc.type, 'function');
        assert.equal(typeof tc.function.name, 'string');
        assert.equal(typeof tc.function.arguments, 'string');
        JSON.parse(tc.function.arguments);
      }
    } else {
      assert.equal(typeof msg.content, 'string');
      assert.notEqual(finish, 'tool_calls');
    }
  }

  for (const [label, file] of [['stories260K', STORIES], ['tiny-qwen2', 'models/tiny-qwen2-f32.gguf']]) {
    test(`tools offered (${label}): accepted; any tool call is well formed`, async () => {
      const s2 = file === STORIES ? srv : await startServer(file, ['-t', '1', '-c', '2048']);
      const c2 = file === STORIES ? ai : client(s2);
      const m2 = file === STORIES ? model : 'tiny-qwen2-f32';
      try {
        const ask = [{ role: 'user', content: 'What is the weather in Paris?' }];
        for (const tool_choice of ['auto', 'required', undefined]) {
          const r = await c2.chat.completions.create({ model: m2, messages: ask, tools, tool_choice, max_tokens: 40, temperature: 0 });
          checkToolShape(r.choices[0].message, r.choices[0].finish_reason);
        }
        const st = await c2.chat.completions.create({ model: m2, messages: ask, tools, max_tokens: 40, temperature: 0, stream: true });
        let finish = null;
        for await (const ch of st) {
          for (const c of ch.choices) {
            if (c.finish_reason) finish = c.finish_reason;
            for (const tc of c.delta.tool_calls || []) {
              assert.equal(typeof tc.index, 'number');
              if (tc.function?.name !== undefined) assert.equal(typeof tc.function.name, 'string');
            }
          }
        }
        assert.ok(['stop', 'length', 'tool_calls'].includes(finish));

        // the round trip: an assistant tool call and the tool's answer must
        // render and be answered
        const base = [{ role: 'system', content: 'You can call tools.' }, ...ask];
        const trip = [
          ...base,
          {
            role: 'assistant', content: null,
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
          },
          { role: 'tool', tool_call_id: 'call_1', content: '{"temp_c": 21, "sky": "clear"}' },
        ];
        const r0 = await c2.chat.completions.create({ model: m2, messages: base, tools, max_tokens: 1, temperature: 0 });
        const r1 = await c2.chat.completions.create({ model: m2, messages: trip, tools, max_tokens: 24, temperature: 0 });
        checkToolShape(r1.choices[0].message, r1.choices[0].finish_reason);
        assert.ok(r1.usage.completion_tokens >= 1);
        // the tool call and its result are in the prompt
        const extra = r1.usage.prompt_tokens - r0.usage.prompt_tokens;
        assert.ok(extra >= '{"city":"Paris"}{"temp_c": 21, "sky": "clear"}'.length / 4, `rendered ${extra} more tokens`);
        // arguments may also be sent as an object by some clients; a bad shape is a 400
        await assert.rejects(
          c2.chat.completions.create({ model: m2, messages: [...base, { role: 'assistant', content: null, tool_calls: 'x' }] }),
          OpenAI.BadRequestError,
        );
      } finally {
        if (s2 !== srv) await s2.stop();
      }
    });
  }
});

describe('embeddings: tiny-bert against the reference', () => {
  let srv, ai;
  const bref = readJSON('reference/tiny-bert-f32.S4.json');
  before(async () => {
    srv = await startServer('models/tiny-bert-f32.gguf', ['-t', '1']);
    ai = client(srv);
  });
  after(async () => {
    await srv?.stop();
  });

  function close(got, want, what) {
    assert.equal(got.length, want.length, `${what} dimension`);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    assert.ok(worst < 1e-3, `${what}: max |diff| ${worst}`);
  }

  test('batch of four sentences (SDK default base64 encoding)', async () => {
    const input = bref.sentences.map((s) => s.text);
    const r = await ai.embeddings.create({ model: 'tiny-bert-f32', input });
    assert.equal(r.object, 'list');
    assert.equal(r.data.length, 4);
    r.data.forEach((d, i) => {
      assert.equal(d.object, 'embedding');
      assert.equal(d.index, i);
      close(d.embedding, bref.sentences[i].embedding, `sentence ${i + 1}`);
    });
    const nTok = bref.sentences.reduce((a, s) => a + s.token_ids.length, 0);
    assert.equal(r.usage.prompt_tokens, nTok);
  });

  test('float encoding, one string, token ids', async () => {
    const s = bref.sentences[2];
    const r = await ai.embeddings.create({ model: 'tiny-bert-f32', input: s.text, encoding_format: 'float' });
    close(r.data[0].embedding, s.embedding, 'float');
    const t = await ai.embeddings.create({ model: 'tiny-bert-f32', input: [s.token_ids], encoding_format: 'float' });
    close(t.data[0].embedding, s.embedding, 'token ids');
  });

  test('chat on an embedding model: 400', async () => {
    await assert.rejects(
      ai.chat.completions.create({ model: 'tiny-bert-f32', messages: CHAT }),
      OpenAI.BadRequestError,
    );
    await assert.rejects(ai.embeddings.create({ model: 'tiny-bert-f32', input: [] }), OpenAI.BadRequestError);
  });
});

describe('error statuses through the SDK', () => {
  test('401: AuthenticationError with --api-key', async () => {
    const srv = await startServer(STORIES, ['-t', '1', '--api-key', 'sk-right']);
    try {
      const bad = client(srv, { apiKey: 'sk-wrong' });
      await assert.rejects(bad.models.list(), (e) => {
        assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
        assert.equal(e.status, 401);
        return true;
      });
      await assert.rejects(bad.chat.completions.create({ model: 'stories260K', messages: CHAT }), OpenAI.AuthenticationError);
      const good = client(srv, { apiKey: 'sk-right' });
      const r = await good.chat.completions.create({ model: 'stories260K', messages: CHAT, max_tokens: 4 });
      assert.equal(r.choices.length, 1);
    } finally {
      await srv.stop();
    }
  });

  test('429: RateLimitError with --rate-limit', async () => {
    const srv = await startServer(STORIES, ['-t', '1', '--rate-limit', '3']);
    try {
      const ai = client(srv);
      const statuses = [];
      let limited = null;
      for (let i = 0; i < 6 && !limited; i++) {
        try {
          await ai.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 2 });
          statuses.push(200);
        } catch (e) {
          limited = e;
        }
      }
      assert.ok(limited instanceof OpenAI.RateLimitError, `after ${statuses.length} ok: ${limited}`);
      assert.equal(limited.status, 429);
      assert.ok(statuses.length >= 1 && statuses.length <= 3, `${statuses.length} requests before 429`);
      assert.ok(limited.headers.get('retry-after'), 'Retry-After header');
    } finally {
      await srv.stop();
    }
  });

  test('503: queue full (--max-queue 0 --parallel 1) while a long request runs', async () => {
    const srv = await startServer(STORIES, ['-t', '1', '--parallel', '1', '--max-queue', '0', '-c', '4096']);
    try {
      const ai = client(srv);
      const ctl = new AbortController();
      // EOS banned, so this one runs its whole budget
      const long = await ai.completions.create(
        { model: 'stories260K', prompt: 'Once', max_tokens: 4000, logit_bias: { 2: -100 }, stream: true },
        { signal: ctl.signal },
      );
      const it = long[Symbol.asyncIterator]();
      const first = await it.next(); // the long one holds the only slot now
      assert.equal(first.done, false);
      await assert.rejects(ai.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 4 }), (e) => {
        assert.ok(e instanceof OpenAI.InternalServerError && e.status === 503, String(e));
        return true;
      });
      ctl.abort(); // a client that goes away mid-stream
      // (this SDK ends an aborted stream quietly; older ones threw)
      try {
        while (!(await it.next()).done);
      } catch (e) {
        assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', String(e));
      }
      // the slot frees up after the disconnect
      let ok = null;
      for (let i = 0; i < 50 && !ok; i++) {
        try {
          ok = await ai.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 4 });
        } catch (e) {
          if (e.status !== 503) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(ok, 'served after the long request was dropped');
      // ... because it was cancelled, not because it ran its 4000 tokens
      const metrics = await (await fetch(`${srv.url}/metrics`)).text();
      const gen = Number(/^hearth_generated_tokens_total (\d+)/m.exec(metrics)?.[1]);
      assert.ok(gen > 0 && gen < 4000, `generated ${gen} tokens in all`);
    } finally {
      await srv.stop();
    }
  });
});
