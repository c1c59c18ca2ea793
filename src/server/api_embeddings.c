/* api_embeddings.c - POST /v1/embeddings: validates and tokenizes `input`
 * (a string, an array of strings, a token array or an array of token
 * arrays); the vectors are computed by a worker thread in http.c through
 * hearth_sched_embed (BERT models, or a decoder's mean-pooled hidden state).
 */
#include <string.h>

#include "hearth/alloc.h"
#include "server/server_internal.h"

enum { MAX_INPUTS = 2048 };

/* Stores one tokenized input in r. */
static int add_input(srv_req *r, int32_t *ids, size_t n, size_t i, srv_reply *rep) {
    if (n == 0) {
        hearth_free(ids);
        srv_error(rep, 400, "invalid_request_error", "input", "invalid_value", "'input[%zu]' has no tokens", i);
        return -1;
    }
    if (n > (size_t)r->srv->n_ctx) {
        hearth_free(ids);
        srv_error(rep, 400, "invalid_request_error", "input", "context_length_exceeded",
                  "'input[%zu]' has %zu tokens but the model takes at most %d", i, n, (int)r->srv->n_ctx);
        return -1;
    }
    r->emb_inputs[r->n_emb] = ids;
    r->emb_lens[r->n_emb] = n;
    r->n_emb++;
    return 0;
}

/* Tokenizes one string input. */
static int add_text(srv_req *r, const json_t *s, size_t i, srv_reply *rep) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (json_string_length(s) == 0) {
        srv_error(rep, 400, "invalid_request_error", "input", "invalid_value", "'input[%zu]' is an empty string", i);
        return -1;
    }
    hearth_status st = hearth_tokenize(r->srv->vocab, json_string_value(s), json_string_length(s), true, false, &ids, &n);
    if (st < 0) {
        srv_error(rep, 400, "invalid_request_error", "input", NULL, "cannot tokenize 'input[%zu]': %s", i,
                  hearth_error_last());
        return -1;
    }
    return add_input(r, ids, n, i, rep);
}

int api_embeddings_start(srv_req *r, json_t *body, srv_reply *rep) {
    hearth_server *s = r->srv;
    int32_t n_vocab = hearth_vocab_n_tokens(s->vocab);
    const json_t *in = json_object_get(body, "input");
    if (!in || json_is_null(in)) {
        srv_error(rep, 400, "invalid_request_error", "input", "missing_required_parameter", "'input' is required");
        return -1;
    }
    const json_t *fmt = json_object_get(body, "encoding_format");
    if (fmt && !json_is_null(fmt)) {
        const char *f = json_string_value(fmt);
        if (!f || (strcmp(f, "float") && strcmp(f, "base64"))) {
            srv_error(rep, 400, "invalid_request_error", "encoding_format", "invalid_value",
                      "'encoding_format' must be 'float' or 'base64'");
            return -1;
        }
        r->emb_base64 = strcmp(f, "base64") == 0;
    }
    const json_t *dims = json_object_get(body, "dimensions");
    if (dims && !json_is_null(dims)) {
        const hearth_hparams *hp = hearth_model_hparams(s->model);
        if (!json_is_integer(dims) || json_integer_value(dims) != hp->n_embd) {
            srv_error(rep, 400, "invalid_request_error", "dimensions", "unsupported_value",
                      "'dimensions' must be %d, the model's embedding size", (int)hp->n_embd);
            return -1;
        }
    }
    size_t n_in = 1;
    bool list = json_is_array(in) && json_array_size(in) > 0 &&
                (json_is_string(json_array_get(in, 0)) || json_is_array(json_array_get(in, 0)));
    if (list) n_in = json_array_size(in);
    if (!json_is_string(in) && !json_is_array(in)) {
        srv_error(rep, 400, "invalid_request_error", "input", "invalid_type",
                  "'input' must be a string, an array of strings, a token array or an array of token arrays");
        return -1;
    }
    if (json_is_array(in) && json_array_size(in) == 0) {
        srv_error(rep, 400, "invalid_request_error", "input", "invalid_value", "'input' is an empty array");
        return -1;
    }
    if (n_in > MAX_INPUTS) {
        srv_error(rep, 400, "invalid_request_error", "input", "invalid_value",
                  "'input' has %zu entries; at most %d are allowed", n_in, MAX_INPUTS);
        return -1;
    }
    r->emb_inputs = hearth_calloc(n_in, sizeof *r->emb_inputs);
    r->emb_lens = hearth_calloc(n_in, sizeof *r->emb_lens);
    if (!r->emb_inputs || !r->emb_lens) {
        srv_error(rep, 503, "server_error", NULL, "out_of_memory", "out of memory");
        return -1;
    }
    if (json_is_string(in)) return add_text(r, in, 0, rep);
    if (!list) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (srv_parse_token_array(in, n_vocab, "input", &ids, &n, rep) < 0) return -1;
        return add_input(r, ids, n, 0, rep);
    }
    for (size_t i = 0; i < n_in; i++) {
        const json_t *e = json_array_get(in, i);
        if (json_is_string(e)) {
            if (add_text(r, e, i, rep) < 0) return -1;
        } else if (json_is_array(e)) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (srv_parse_token_array(e, n_vocab, "input", &ids, &n, rep) < 0) return -1;
            if (add_input(r, ids, n, i, rep) < 0) return -1;
        } else {
            srv_error(rep, 400, "invalid_request_error", "input", "invalid_type",
                      "'input[%zu]' must be a string or a token array", i);
            return -1;
        }
    }
    return 0;
}
