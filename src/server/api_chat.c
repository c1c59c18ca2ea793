/* api_chat.c - POST /v1/chat/completions.
 *
 * Messages (system/developer/user/assistant/tool; content as a string or an
 * array of text parts) are normalised into the shape the chat templates
 * expect and rendered with the model's template, tools included. The
 * answer is read back for tool calls with the family's parser. With tools
 * and streaming, the text is held back and sent at the end (content, then
 * the tool calls), since a call cannot be recognised before it is complete.
 * response_format json_object / json_schema compiles a constraint; the
 * generation ends as soon as the JSON document is complete.
 */
#include <math.h>
#include <string.h>

#include "hearth/alloc.h"
#include "hearth/constraint.h"
#include "hearth/toolcall.h"
#include "server/server_internal.h"

/* Concatenates a content value (string, array of text parts, null) into a
 * string. Returns a new reference, or NULL with rep filled. */
static json_t *content_text(const json_t *c, size_t mi, srv_reply *rep) {
    char param[48];
    snprintf(param, sizeof param, "messages[%zu].content", mi);
    if (!c || json_is_null(c)) return json_string("");
    if (json_is_string(c)) return json_incref((json_t *)c);
    if (!json_is_array(c)) {
        srv_error(rep, 400, "invalid_request_error", param, "invalid_type",
                  "'%s' must be a string or an array of content parts", param);
        return NULL;
    }
    srv_buf b = {0};
    srv_buf_add(&b, "", 0);
    size_t i;
    const json_t *part;
    json_array_foreach(c, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        const json_t *text = json_object_get(part, "text");
        if (!json_is_object(part) || !type) {
            srv_buf_free(&b);
            srv_error(rep, 400, "invalid_request_error", param, "invalid_type",
                      "'%s[%zu]' must be an object with a 'type'", param, i);
            return NULL;
        }
        if (strcmp(type, "text") != 0) {
            srv_buf_free(&b);
            srv_error(rep, 400, "invalid_request_error", param, "unsupported_content",
                      "'%s[%zu]' has type '%.40s'; this model only takes text parts", param, i, type);
            return NULL;
        }
        if (!json_is_string(text)) {
            srv_buf_free(&b);
            srv_error(rep, 400, "invalid_request_error", param, "invalid_type", "'%s[%zu].text' must be a string",
                      param, i);
            return NULL;
        }
        if (srv_buf_add(&b, json_string_value(text), json_string_length(text)) < 0) {
            srv_buf_free(&b);
            srv_error(rep, 503, "server_error", NULL, "out_of_memory", "out of memory");
            return NULL;
        }
    }
    json_t *j = json_stringn(b.p, b.len);
    srv_buf_free(&b);
    return j;
}

/* Validates `messages` into a new array for the template. */
static json_t *normalise_messages(const json_t *msgs, srv_reply *rep) {
    if (!msgs) {
        srv_error(rep, 400, "invalid_request_error", "messages", "missing_required_parameter",
                  "'messages' is required");
        return NULL;
    }
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        srv_error(rep, 400, "invalid_request_error", "messages", "invalid_value",
                  "'messages' must be a non-empty array");
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m) {
        char param[48];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(m)) {
            srv_error(rep, 400, "invalid_request_error", param, "invalid_type", "'%s' must be an object", param);
            goto fail;
        }
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role) {
            srv_error(rep, 400, "invalid_request_error", param, "invalid_value", "'%s.role' must be a string",
                      param);
            goto fail;
        }
        if (strcmp(role, "developer") == 0) role = "system";
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "tool")) {
            srv_error(rep, 400, "invalid_request_error", param, "invalid_value",
                      "'%s.role' is '%.40s'; expected system, developer, user, assistant or tool", param, role);
            goto fail;
        }
        const json_t *content = json_object_get(m, "content");
        const json_t *calls = json_object_get(m, "tool_calls");
        if ((!content || json_is_null(content)) && !(strcmp(role, "assistant") == 0 && calls)) {
            srv_error(rep, 400, "invalid_request_error", param, "missing_required_parameter",
                      "'%s.content' is required", param);
            goto fail;
        }
        json_t *text = content_text(content, i, rep);
        if (!text) goto fail;
        json_t *nm = json_pack("{s:s, s:o}", "role", role, "content", text);
        if (!nm) goto oom;
        const json_t *name = json_object_get(m, "name");
        if (json_is_string(name)) json_object_set(nm, "name", (json_t *)name);
        const json_t *tcid = json_object_get(m, "tool_call_id");
        if (json_is_string(tcid)) json_object_set(nm, "tool_call_id", (json_t *)tcid);
        if (calls && !json_is_null(calls)) {
            if (!json_is_array(calls)) {
                json_decref(nm);
                srv_error(rep, 400, "invalid_request_error", param, "invalid_type",
                          "'%s.tool_calls' must be an array", param);
                goto fail;
            }
            /* templates index arguments as a mapping: decode the JSON text */
            json_t *cc = json_deep_copy(calls);
            size_t k;
            json_t *call;
            json_array_foreach(cc, k, call) {
                json_t *fn = json_object_get(call, "function");
                json_t *args = json_object_get(fn, "arguments");
                if (json_is_string(args)) {
                    json_t *parsed = json_loads(json_string_value(args), JSON_DECODE_ANY, NULL);
                    if (parsed) json_object_set_new(fn, "arguments", parsed);
                }
            }
            json_object_set_new(nm, "tool_calls", cc);
        }
        if (json_array_append_new(out, nm) < 0) goto oom;
    }
    return out;
oom:
    srv_error(rep, 503, "server_error", NULL, "out_of_memory", "out of memory");
fail:
    json_decref(out);
    return NULL;
}

/* `tools` and `tool_choice`: returns 0 and *tools (new reference or NULL
 * when none are to be offered), or -1 with rep filled. */
static int parse_tools(const json_t *body, json_t **tools, srv_reply *rep) {
    *tools = NULL;
    const json_t *t = json_object_get(body, "tools");
    if (!t || json_is_null(t)) return 0;
    if (!json_is_array(t)) {
        srv_error(rep, 400, "invalid_request_error", "tools", "invalid_type", "'tools' must be an array");
        return -1;
    }
    size_t i;
    const json_t *tool;
    json_array_foreach(t, i, tool) {
        const json_t *fn = json_object_get(tool, "function");
        const char *type = json_string_value(json_object_get(tool, "type"));
        if (!json_is_object(tool) || !type || strcmp(type, "function") != 0 || !json_is_object(fn) ||
            !json_is_string(json_object_get(fn, "name"))) {
            srv_error(rep, 400, "invalid_request_error", "tools", "invalid_value",
                      "'tools[%zu]' must be {\"type\": \"function\", \"function\": {\"name\": ..., ...}}", i);
            return -1;
        }
    }
    const json_t *tc = json_object_get(body, "tool_choice");
    if (tc && !json_is_null(tc)) {
        if (json_is_string(tc)) {
            const char *c = json_string_value(tc);
            if (strcmp(c, "none") == 0) return 0;
            if (strcmp(c, "auto") && strcmp(c, "required")) {
                srv_error(rep, 400, "invalid_request_error", "tool_choice", "invalid_value",
                          "'tool_choice' must be none, auto, required or a function object");
                return -1;
            }
        } else if (!json_is_object(tc)) {
            srv_error(rep, 400, "invalid_request_error", "tool_choice", "invalid_type",
                      "'tool_choice' must be a string or an object");
            return -1;
        }
    }
    if (json_array_size(t) == 0) return 0;
    *tools = json_incref((json_t *)t);
    return 0;
}

/* `response_format`: compiles a constraint (or leaves *c NULL for text). */
static int parse_response_format(srv_req *r, const json_t *body, hearth_constraint **c, srv_reply *rep) {
    *c = NULL;
    const json_t *rf = json_object_get(body, "response_format");
    if (!rf || json_is_null(rf)) return 0;
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!json_is_object(rf) || !type) {
        srv_error(rep, 400, "invalid_request_error", "response_format", "invalid_type",
                  "'response_format' must be an object with a 'type'");
        return -1;
    }
    const json_t *schema = NULL;
    if (strcmp(type, "text") == 0) return 0;
    if (strcmp(type, "json_schema") == 0) {
        const json_t *js = json_object_get(rf, "json_schema");
        schema = json_object_get(js, "schema");
        if (!json_is_object(js) || (schema && !json_is_object(schema))) {
            srv_error(rep, 400, "invalid_request_error", "response_format.json_schema", "invalid_value",
                      "'response_format.json_schema' must be an object with a 'schema' object");
            return -1;
        }
    } else if (strcmp(type, "json_object") != 0) {
        srv_error(rep, 400, "invalid_request_error", "response_format.type", "invalid_value",
                  "'response_format.type' is '%.40s'; expected text, json_object or json_schema", type);
        return -1;
    }
    hearth_status st = hearth_constraint_new_json(r->srv->vocab, schema, c);
    if (st < 0) {
        srv_error(rep, 400, "invalid_request_error", "response_format", "unsupported_schema",
                  "cannot use this response_format: %s", hearth_error_last());
        return -1;
    }
    r->json_mode = true;
    return 0;
}

int api_chat_start(srv_req *r, json_t *body, srv_reply *rep) {
    hearth_server *s = r->srv;
    if (s->is_bert) {
        srv_error(rep, 400, "invalid_request_error", "model", "unsupported_model",
                  "'%s' is an embedding model; use /v1/embeddings", s->model_id);
        return -1;
    }
    if (srv_parse_n(body, rep) < 0 || srv_parse_stream(body, r, rep) < 0) return -1;
    const json_t *lp = json_object_get(body, "logprobs");
    if (lp && !json_is_null(lp) && !json_is_boolean(lp)) {
        srv_error(rep, 400, "invalid_request_error", "logprobs", "invalid_type", "'logprobs' must be a boolean");
        return -1;
    }
    r->want_logprobs = json_is_true(lp);
    const json_t *tlp = json_object_get(body, "top_logprobs");
    if (tlp && !json_is_null(tlp)) {
        if (!json_is_integer(tlp) || json_integer_value(tlp) < 0 || json_integer_value(tlp) > 20) {
            srv_error(rep, 400, "invalid_request_error", "top_logprobs", "invalid_value",
                      "'top_logprobs' must be an integer between 0 and 20");
            return -1;
        }
        if (!r->want_logprobs) {
            srv_error(rep, 400, "invalid_request_error", "top_logprobs", "invalid_value",
                      "'top_logprobs' requires 'logprobs' to be true");
            return -1;
        }
        r->n_logprobs = (int32_t)json_integer_value(tlp);
    }
    hearth_gen_request g;
    memset(&g, 0, sizeof g);
    const char *stop[4];
    hearth_logit_bias bias[300];
    size_t n_stop = 0, n_bias = 0;
    if (srv_parse_sampling(body, &g.sampling, rep) < 0 || srv_parse_stop(body, stop, &n_stop, rep) < 0 ||
        srv_parse_bias(body, hearth_vocab_n_tokens(s->vocab), bias, &n_bias, 300, rep) < 0 ||
        srv_parse_max_tokens(body, &g.max_tokens, rep) < 0)
        return -1;
    json_t *msgs = normalise_messages(json_object_get(body, "messages"), rep);
    if (!msgs) return -1;
    json_t *tools = NULL;
    if (parse_tools(body, &tools, rep) < 0) {
        json_decref(msgs);
        return -1;
    }
    r->has_tools = tools != NULL;
    char *text = NULL;
    size_t len = 0;
    hearth_status st = hearth_chat_render(s->tmpl, msgs, tools, true, s->tmpl_extra, &text, &len);
    json_decref(msgs);
    json_decref(tools);
    if (st < 0) {
        srv_error(rep, 400, "invalid_request_error", "messages", NULL, "the chat template rejected the messages: %s",
                  hearth_error_last());
        return -1;
    }
    const char *t = text;
    size_t l = len;
    /* exactly one BOS: the tokenizer adds it, so drop the template's */
    if (hearth_vocab_add_bos(s->vocab) && s->bos_len > 0 && l >= s->bos_len && memcmp(t, s->bos_text, s->bos_len) == 0) {
        t += s->bos_len;
        l -= s->bos_len;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    st = hearth_tokenize(s->vocab, t, l, true, true, &ids, &n_ids);
    if (st == HEARTH_OK) r->prompt_log = hearth_strndup(t, l);
    hearth_free(text);
    if (st < 0) {
        srv_error(rep, 400, "invalid_request_error", "messages", NULL, "cannot tokenize the conversation: %s",
                  hearth_error_last());
        return -1;
    }
    if (n_ids >= (size_t)s->n_ctx) {
        srv_error(rep, 400, "invalid_request_error", "messages", "context_length_exceeded",
                  "the conversation has %zu tokens but the context holds %d: shorten the messages (or start the "
                  "server with a larger -c)",
                  n_ids, (int)s->n_ctx);
        hearth_free(ids);
        return -1;
    }
    hearth_constraint *c = NULL;
    if (parse_response_format(r, body, &c, rep) < 0) {
        hearth_free(ids);
        return -1;
    }
    r->prompt_ids = ids;
    r->n_prompt_ids = n_ids;
    g.prompt = ids;
    g.n_prompt = n_ids;
    g.stop = stop;
    g.n_stop = n_stop;
    g.bias = bias;
    g.n_bias = n_bias;
    g.constraint = c;
    g.n_logprobs = r->want_logprobs ? (r->n_logprobs > 0 ? r->n_logprobs : 1) : 0;
    srv_new_id(s, "chatcmpl", r->resp_id, sizeof r->resp_id);
    r->api = SRV_API_CHAT;
    if (srv_submit(r, &g, rep) < 0) {
        hearth_constraint_free(c); /* still ours: submit failed */
        return -1;
    }
    return 0;
}

/* The chat logprobs object for records [from, to). */
static json_t *chat_logprobs(srv_req *r, size_t from, size_t to) {
    const hearth_vocab *v = r->srv->vocab;
    json_t *content = json_array();
    char piece[512];
    for (size_t i = from; i < to; i++) {
        const srv_tok *t = &r->toks[i];
        if (t->is_prompt) continue;
        size_t raw = 0;
        json_t *tok = srv_token_json(v, t->token, piece, sizeof piece, &raw);
        json_t *bytes = json_array();
        for (size_t k = 0; k < raw; k++) json_array_append_new(bytes, json_integer((unsigned char)piece[k]));
        json_t *tops = json_array();
        for (int32_t k = 0; k < t->n_top && k < r->n_logprobs; k++) {
            size_t rl = 0;
            char pc[512];
            json_t *tt = srv_token_json(v, t->top[k].token, pc, sizeof pc, &rl);
            json_t *tb = json_array();
            for (size_t q = 0; q < rl; q++) json_array_append_new(tb, json_integer((unsigned char)pc[q]));
            json_array_append_new(tops, json_pack("{s:o, s:f, s:o}", "token", tt, "logprob",
                                                  (double)t->top[k].logprob, "bytes", tb));
        }
        json_array_append_new(content, json_pack("{s:o, s:f, s:o, s:o}", "token", tok, "logprob",
                                                 isnan(t->logprob) ? 0.0 : (double)t->logprob, "bytes", bytes,
                                                 "top_logprobs", tops));
    }
    return json_pack("{s:o, s:n}", "content", content, "refusal");
}

/* Splits the answer into content and tool calls (when tools were offered).
 * *calls gets a new array (possibly empty); returns the content string. */
static json_t *split_answer(srv_req *r, json_t **calls) {
    *calls = NULL;
    const char *text = r->text.p ? r->text.p : "";
    if (r->has_tools) {
        json_t *tc = NULL;
        char *content = NULL;
        if (hearth_toolcall_parse(r->srv->family, text, r->text.len, &tc, &content) == HEARTH_OK) {
            json_t *c = srv_text_json(content, strlen(content));
            hearth_free(content);
            if (json_array_size(tc) > 0) {
                *calls = tc;
                return c;
            }
            json_decref(tc);
            json_decref(c);
        }
    }
    return srv_text_json(text, r->text.len);
}

/* The finish reason, counting a JSON document completed early as a stop. */
static const char *chat_finish(srv_req *r, bool calls) {
    if (r->json_done && r->finish == HEARTH_FINISH_CANCELLED) return "stop";
    return srv_finish_name(r->finish, calls);
}

json_t *api_chat_final(srv_req *r) {
    json_t *calls = NULL;
    json_t *content = split_answer(r, &calls);
    json_t *msg = json_pack("{s:s}", "role", "assistant");
    if (calls && json_string_length(content) == 0) {
        json_decref(content);
        content = json_null();
    }
    json_object_set_new(msg, "content", content);
    json_object_set_new(msg, "refusal", json_null());
    if (calls) json_object_set_new(msg, "tool_calls", calls);
    json_t *choice = json_pack("{s:i, s:o, s:o, s:s}", "index", 0, "message", msg, "logprobs",
                               r->want_logprobs ? chat_logprobs(r, 0, r->n_toks) : json_null(), "finish_reason",
                               chat_finish(r, calls != NULL));
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:[o], s:o}", "id", r->resp_id, "object", "chat.completion",
                     "created", (json_int_t)r->created, "model", r->srv->model_id, "system_fingerprint",
                     r->srv->fingerprint, "choices", choice, "usage", srv_usage_json(r));
}

/* A chunk with one choice (delta, finish) or (delta NULL) the usage chunk. */
static json_t *chunk(srv_req *r, json_t *delta, json_t *logprobs, const char *finish) {
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", r->resp_id, "object", "chat.completion.chunk",
                          "created", (json_int_t)r->created, "model", r->srv->model_id, "system_fingerprint",
                          r->srv->fingerprint);
    if (!j) {
        json_decref(delta);
        json_decref(logprobs);
        return NULL;
    }
    if (delta)
        json_object_set_new(j, "choices",
                            json_pack("[{s:i, s:o, s:o, s:o}]", "index", 0, "delta", delta, "logprobs",
                                      logprobs ? logprobs : json_null(), "finish_reason",
                                      finish ? json_string(finish) : json_null()));
    else
        json_object_set_new(j, "choices", json_array());
    if (r->include_usage) json_object_set_new(j, "usage", delta ? json_null() : srv_usage_json(r));
    return j;
}

void api_chat_stream(srv_req *r) {
    if (r->stream_stage == 0) {
        r->stream_stage = 1;
        srv_sse_json(r, chunk(r, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, NULL));
    }
    if (r->stream_stage != 1) return;
    if (!r->has_tools && (r->text.len > r->sent_text || (r->want_logprobs && r->n_toks > r->sent_toks))) {
        json_t *lp = r->want_logprobs ? chat_logprobs(r, r->sent_toks, r->n_toks) : NULL;
        srv_sse_json(r, chunk(r, json_pack("{s:o}", "content",
                                           srv_text_json(r->text.p + r->sent_text, r->text.len - r->sent_text)),
                              lp, NULL));
        r->sent_text = r->text.len;
        r->sent_toks = r->n_toks;
    }
    if (!r->done) return;
    if (r->finish == HEARTH_FINISH_ERROR || (r->finish == HEARTH_FINISH_CANCELLED && !r->json_done)) {
        srv_reply e = {0};
        srv_error(&e, 500, "server_error", NULL, NULL, "generation stopped: %s",
                  r->finish == HEARTH_FINISH_ERROR ? r->gen_error : "cancelled");
        srv_sse_json(r, e.json);
        e.json = NULL;
    } else {
        bool have_calls = false;
        if (r->has_tools) {
            json_t *calls = NULL;
            json_t *content = split_answer(r, &calls);
            json_t *lp = r->want_logprobs ? chat_logprobs(r, 0, r->n_toks) : NULL;
            if (json_string_length(content) > 0 || lp)
                srv_sse_json(r, chunk(r, json_pack("{s:O}", "content", content), lp, NULL));
            json_decref(content);
            if (calls) {
                have_calls = true;
                size_t i;
                json_t *call;
                json_array_foreach(calls, i, call) json_object_set_new(call, "index", json_integer((json_int_t)i));
                srv_sse_json(r, chunk(r, json_pack("{s:o}", "tool_calls", calls), NULL, NULL));
            }
        }
        srv_sse_json(r, chunk(r, json_object(), NULL, chat_finish(r, have_calls)));
        if (r->include_usage) srv_sse_json(r, chunk(r, NULL, NULL, NULL));
    }
    srv_buf_str(&r->out, "data: [DONE]\n\n");
    r->stream_stage = 3;
}
