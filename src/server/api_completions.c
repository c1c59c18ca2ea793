/* api_completions.c - POST /v1/completions (OpenAI's legacy completions).
 *
 * The prompt is a string, a one-element array of strings, a token array or
 * a one-element array of token arrays (one choice per request). `echo`
 * puts the prompt in front of the text; `logprobs` (0..5) returns the
 * legacy {tokens, token_logprobs, top_logprobs, text_offset} object.
 * `suffix` (insertion) is not supported and rejected.
 */
#include <math.h>
#include <string.h>

#include "hearth/alloc.h"
#include "server/server_internal.h"

/* Reads `prompt` into token ids; the text for echo goes to r->echo_text. */
static int parse_prompt(srv_req *r, const json_t *body, int32_t **ids, size_t *n, srv_reply *rep) {
    hearth_server *s = r->srv;
    const json_t *p = json_object_get(body, "prompt");
    int32_t n_vocab = hearth_vocab_n_tokens(s->vocab);
    if (!p || json_is_null(p)) {
        srv_error(rep, 400, "invalid_request_error", "prompt", "missing_required_parameter",
                  "'prompt' is required");
        return -1;
    }
    if (json_is_array(p) && json_array_size(p) >= 1 &&
        (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0)))) {
        if (json_array_size(p) > 1) {
            srv_error(rep, 400, "invalid_request_error", "prompt", "unsupported_value",
                      "'prompt' has %zu prompts; this server completes one prompt per request",
                      json_array_size(p));
            return -1;
        }
        p = json_array_get(p, 0);
        if (json_is_array(p)) {
            if (srv_parse_token_array(p, n_vocab, "prompt[0]", ids, n, rep) < 0) return -1;
            goto detok;
        }
    }
    if (json_is_string(p)) {
        const char *t = json_string_value(p);
        size_t len = json_string_length(p);
        if (len == 0) {
            srv_error(rep, 400, "invalid_request_error", "prompt", "invalid_value", "'prompt' is empty");
            return -1;
        }
        hearth_status st = hearth_tokenize(s->vocab, t, len, true, false, ids, n);
        if (st < 0) {
            srv_error(rep, 400, "invalid_request_error", "prompt", NULL, "cannot tokenize 'prompt': %s",
                      hearth_error_last());
            return -1;
        }
        r->echo_text = hearth_strndup(t, len);
        r->prompt_log = hearth_strndup(t, len);
        return 0;
    }
    if (json_is_array(p)) {
        if (srv_parse_token_array(p, n_vocab, "prompt", ids, n, rep) < 0) return -1;
        goto detok;
    }
    srv_error(rep, 400, "invalid_request_error", "prompt", "invalid_type",
              "'prompt' must be a string, an array of strings, an array of token ids or an array of those");
    return -1;
detok:;
    size_t tl = 0;
    if (hearth_detokenize(s->vocab, *ids, *n, true, false, &r->echo_text, &tl) < 0) r->echo_text = NULL;
    if (r->echo_text) r->prompt_log = hearth_strdup(r->echo_text);
    return 0;
}

int api_completions_start(srv_req *r, json_t *body, srv_reply *rep) {
    hearth_server *s = r->srv;
    if (s->is_bert) {
        srv_error(rep, 400, "invalid_request_error", "model", "unsupported_model",
                  "'%s' is an embedding model; use /v1/embeddings", s->model_id);
        return -1;
    }
    const json_t *suffix = json_object_get(body, "suffix");
    if (suffix && !json_is_null(suffix) && !(json_is_string(suffix) && json_string_length(suffix) == 0)) {
        srv_error(rep, 400, "invalid_request_error", "suffix", "unsupported_parameter",
                  "'suffix' (text insertion) is not supported by this server");
        return -1;
    }
    const json_t *bo = json_object_get(body, "best_of");
    if (bo && !json_is_null(bo) && !(json_is_integer(bo) && json_integer_value(bo) == 1)) {
        srv_error(rep, 400, "invalid_request_error", "best_of", "unsupported_value", "'best_of' must be 1");
        return -1;
    }
    if (srv_parse_n(body, rep) < 0 || srv_parse_stream(body, r, rep) < 0) return -1;
    const json_t *echo = json_object_get(body, "echo");
    if (echo && !json_is_null(echo) && !json_is_boolean(echo)) {
        srv_error(rep, 400, "invalid_request_error", "echo", "invalid_type", "'echo' must be a boolean");
        return -1;
    }
    r->echo = json_is_true(echo);
    const json_t *lp = json_object_get(body, "logprobs");
    if (lp && !json_is_null(lp)) {
        if (!json_is_integer(lp) || json_integer_value(lp) < 0 || json_integer_value(lp) > 5) {
            srv_error(rep, 400, "invalid_request_error", "logprobs", "invalid_value",
                      "'logprobs' must be an integer between 0 and 5");
            return -1;
        }
        r->want_logprobs = true;
        r->n_logprobs = (int32_t)json_integer_value(lp);
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
    if (!json_object_get(body, "max_tokens") && !json_object_get(body, "max_completion_tokens"))
        g.max_tokens = 16; /* OpenAI's default for this endpoint */
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (parse_prompt(r, body, &ids, &n_ids, rep) < 0) return -1;
    if (n_ids >= (size_t)s->n_ctx) {
        srv_error(rep, 400, "invalid_request_error", "prompt", "context_length_exceeded",
                  "the prompt has %zu tokens but the context holds %d: shorten the prompt (or start the server "
                  "with a larger -c)",
                  n_ids, (int)s->n_ctx);
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
    g.n_logprobs = r->want_logprobs ? (r->n_logprobs > 0 ? r->n_logprobs : 1) : 0;
    g.prompt_logprobs = r->want_logprobs && r->echo;
    srv_new_id(s, "cmpl", r->resp_id, sizeof r->resp_id);
    r->api = SRV_API_COMPLETIONS;
    return srv_submit(r, &g, rep);
}

/* Returns true when the echoed prompt must drop the leading space of its
 * first piece: SPM vocabularies prefix the first word of a text prompt with
 * a space that is not in the prompt, so without this the echo with logprobs
 * (pieces) would differ from the echo without (the prompt as given). Token
 * id prompts echo their detokenized text, which keeps the space. Does not
 * block. */
static bool echo_strip_lead(srv_req *r) {
    char piece[512];
    int n = 0;
    for (size_t i = 0; i < r->n_prompt_ids && n == 0; i++)
        n = hearth_token_to_piece(r->srv->vocab, r->prompt_ids[i], piece, sizeof piece, false);
    return n > 0 && piece[0] == ' ' && r->echo_text && r->echo_text[0] != ' ';
}

/* The legacy logprobs object for records [from, to) of r->toks (r->mu
 * held). Prompt records are included only with echo. `base` is the offset
 * of r->text in the returned text. */
static json_t *legacy_logprobs(srv_req *r, size_t from, size_t to, size_t base, size_t *prompt_off) {
    const hearth_vocab *v = r->srv->vocab;
    json_t *toks = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    char piece[512];
    bool strip = r->echo && echo_strip_lead(r);
    for (size_t i = from; i < to; i++) {
        const srv_tok *t = &r->toks[i];
        if (t->is_prompt && !r->echo) continue;
        size_t raw = 0;
        json_t *tj = srv_token_json(v, t->token, piece, sizeof piece, &raw);
        if (strip && t->is_prompt && raw > 0) {
            /* the first piece with bytes: drop its dummy-prefix space */
            strip = false;
            json_decref(tj);
            tj = srv_token_json(v, t->token, piece, sizeof piece, &raw);
            if (raw > 0 && raw <= sizeof piece && piece[0] == ' ') {
                json_decref(tj);
                tj = json_stringn(piece + 1, raw - 1);
                raw--;
            }
        }
        json_array_append_new(toks, tj);
        json_array_append_new(lps, isnan(t->logprob) ? json_null() : json_real(t->logprob));
        if (isnan(t->logprob)) {
            json_array_append_new(tops, json_null());
        } else {
            json_t *o = json_object();
            for (int32_t k = 0; k < t->n_top && k < r->n_logprobs; k++) {
                size_t rl = 0;
                char pc[512];
                json_t *key = srv_token_json(v, t->top[k].token, pc, sizeof pc, &rl);
                if (key && !json_object_get(o, json_string_value(key)))
                    json_object_set_new(o, json_string_value(key), json_real(t->top[k].logprob));
                json_decref(key);
            }
            json_array_append_new(tops, o);
        }
        if (t->is_prompt) {
            json_array_append_new(offs, json_integer((json_int_t)*prompt_off));
            *prompt_off += raw;
        } else {
            json_array_append_new(offs, json_integer((json_int_t)(base + t->off)));
        }
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", toks, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offs);
}

/* One choice object. */
static json_t *choice(json_t *text, json_t *logprobs, const char *finish) {
    return json_pack("{s:o, s:i, s:o, s:o}", "text", text, "index", 0, "logprobs", logprobs ? logprobs : json_null(),
                     "finish_reason", finish ? json_string(finish) : json_null());
}

/* The echoed prompt: with logprobs the tokens' own pieces (so text_offset
 * matches), else the prompt as given. */
static void echo_prefix(srv_req *r, srv_buf *b) {
    if (!r->echo) return;
    if (r->want_logprobs) {
        char piece[512];
        bool strip = echo_strip_lead(r);
        for (size_t i = 0; i < r->n_prompt_ids; i++) {
            int n = hearth_token_to_piece(r->srv->vocab, r->prompt_ids[i], piece, sizeof piece, false);
            if (n > 0 && (size_t)n <= sizeof piece) {
                bool cut = strip && piece[0] == ' ';
                strip = false;
                srv_buf_add(b, piece + cut, (size_t)n - cut);
            }
        }
    } else if (r->echo_text) {
        srv_buf_str(b, r->echo_text);
    }
}

json_t *api_completions_final(srv_req *r) {
    srv_buf t = {0};
    echo_prefix(r, &t);
    size_t base = t.len;
    srv_buf_add(&t, r->text.p ? r->text.p : "", r->text.len);
    size_t poff = 0;
    json_t *lp = r->want_logprobs ? legacy_logprobs(r, 0, r->n_toks, base, &poff) : NULL;
    json_t *c = choice(srv_text_json(t.p ? t.p : "", t.len), lp, srv_finish_name(r->finish, false));
    srv_buf_free(&t);
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:[o], s:o}", "id", r->resp_id, "object", "text_completion",
                     "created", (json_int_t)r->created, "model", r->srv->model_id, "system_fingerprint",
                     r->srv->fingerprint, "choices", c, "usage", srv_usage_json(r));
}

/* A chunk with one choice, or (c NULL) the usage chunk. */
static json_t *chunk(srv_req *r, json_t *c) {
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", r->resp_id, "object", "text_completion", "created",
                          (json_int_t)r->created, "model", r->srv->model_id, "system_fingerprint",
                          r->srv->fingerprint);
    if (!j) {
        json_decref(c);
        return NULL;
    }
    json_object_set_new(j, "choices", c ? json_pack("[o]", c) : json_array());
    if (r->include_usage) json_object_set_new(j, "usage", c ? json_null() : srv_usage_json(r));
    return j;
}

void api_completions_stream(srv_req *r) {
    if (r->stream_stage == 0) {
        r->stream_stage = 1;
        if (r->echo) {
            srv_buf t = {0};
            echo_prefix(r, &t);
            size_t poff = 0, np = 0;
            while (np < r->n_toks && r->toks[np].is_prompt) np++;
            json_t *lp = r->want_logprobs ? legacy_logprobs(r, 0, np, 0, &poff) : NULL;
            srv_sse_json(r, chunk(r, choice(srv_text_json(t.p ? t.p : "", t.len), lp, NULL)));
            r->sent_toks = np;
            srv_buf_free(&t);
        }
    }
    if (r->stream_stage == 1) {
        /* prompt records not yet sent (echo) would belong to the first chunk */
        while (r->sent_toks < r->n_toks && r->toks[r->sent_toks].is_prompt) r->sent_toks++;
        if (r->text.len > r->sent_text || r->n_toks > r->sent_toks) {
            size_t poff = 0;
            json_t *lp = r->want_logprobs ? legacy_logprobs(r, r->sent_toks, r->n_toks, 0, &poff) : NULL;
            if (lp) {
                /* offsets within this chunk's text */
                json_t *offs = json_object_get(lp, "text_offset");
                size_t i;
                json_t *e;
                json_array_foreach(offs, i, e) json_integer_set(e, json_integer_value(e) - (json_int_t)r->sent_text);
            }
            srv_sse_json(r, chunk(r, choice(srv_text_json(r->text.p + r->sent_text, r->text.len - r->sent_text),
                                            lp, NULL)));
            r->sent_text = r->text.len;
            r->sent_toks = r->n_toks;
        }
        if (r->done) {
            if (r->finish == HEARTH_FINISH_ERROR || r->finish == HEARTH_FINISH_CANCELLED) {
                srv_reply e = {0};
                srv_error(&e, 500, "server_error", NULL, NULL, "generation stopped: %s",
                          r->finish == HEARTH_FINISH_ERROR ? r->gen_error : "cancelled");
                srv_sse_json(r, e.json);
                e.json = NULL;
            } else {
                srv_sse_json(r, chunk(r, choice(json_string(""), NULL, srv_finish_name(r->finish, false))));
                if (r->include_usage) srv_sse_json(r, chunk(r, NULL));
            }
            srv_buf_str(&r->out, "data: [DONE]\n\n");
            r->stream_stage = 3;
        }
    }
}
