/* test_toolcall.c - tool calls out of generated text, per chat family:
 * Hermes tags, Llama 3 bare JSON and <|python_tag|>, Mistral [TOOL_CALLS],
 * fallbacks, malformed JSON kept in the content, hostile input, OOM, and a
 * round trip through each family's built-in chat template. */
#include <string.h>

#include "hearth/alloc.h"
#include "hearth/chat.h"
#include "hearth/toolcall.h"
#include "test.h"

typedef struct exp_call {
    const char *name;
    const char *args; /* expected compact JSON text */
} exp_call;

/* Parses and checks the calls (names, exact compact arguments, id shape,
 * OpenAI layout) and the content. */
static void expect(hearth_chat_family fam, const char *text, int n_calls, const exp_call *calls, const char *content) {
    json_t *tc = NULL;
    char *ct = NULL;
    hearth_status st = hearth_toolcall_parse(fam, text, strlen(text), &tc, &ct);
    CHECK(st == HEARTH_OK, "parse %s: %s", text, hearth_error_last());
    if (st != HEARTH_OK) return;
    CHECK(json_is_array(tc) && (int)json_array_size(tc) == n_calls, "[%s] %.80s: %d calls, want %d",
          hearth_chat_family_name(fam), text, (int)json_array_size(tc), n_calls);
    for (int i = 0; i < n_calls && i < (int)json_array_size(tc); i++) {
        json_t *c = json_array_get(tc, (size_t)i);
        const char *id = json_string_value(json_object_get(c, "id"));
        CHECK(id && strncmp(id, "call_", 5) == 0 && strlen(id) > 5, "id %s", id ? id : "(null)");
        CHECK(json_is_string(json_object_get(c, "type")) &&
                  !strcmp(json_string_value(json_object_get(c, "type")), "function"),
              "type");
        json_t *fn = json_object_get(c, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        CHECK(name && !strcmp(name, calls[i].name), "call %d name %s, want %s", i, name ? name : "(null)",
              calls[i].name);
        CHECK(args && !strcmp(args, calls[i].args), "call %d args %s, want %s", i, args ? args : "(null)",
              calls[i].args);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(id, json_string_value(json_object_get(json_array_get(tc, (size_t)j), "id"))) != 0,
                  "ids differ");
    }
    CHECK(ct && !strcmp(ct, content), "[%s] content \"%s\", want \"%s\"", hearth_chat_family_name(fam), ct ? ct : "",
          content);
    json_decref(tc);
    hearth_free(ct);
}

static void test_hermes(void) {
    exp_call w = {"get_weather", "{\"city\":\"Paris\",\"unit\":\"c\"}"};
    expect(HEARTH_CHAT_QWEN3,
           "I will check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": "
           "\"c\"}}\n</tool_call>",
           1, &w, "I will check.");
    exp_call two[] = {{"a", "{\"x\":1}"}, {"b", "{\"y\":[1,2,{\"z\":null}]}"}};
    expect(HEARTH_CHAT_CHATML,
           "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", "
           "\"arguments\": {\"y\": [1, 2, {\"z\": null}]}}\n</tool_call>",
           2, two, "");
    /* two objects in one block */
    expect(HEARTH_CHAT_QWEN3,
           "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n{\"name\": \"b\", \"arguments\": {\"y\": [1, 2, "
           "{\"z\": null}]}}\n</tool_call>",
           2, two, "");
    /* malformed JSON stays in the content */
    const char *bad = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}\n</tool_call>";
    expect(HEARTH_CHAT_QWEN3, bad, 0, NULL, bad);
    /* one good, one malformed */
    exp_call f = {"f", "{}"};
    expect(HEARTH_CHAT_CHATML,
           "<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>\n<tool_call>{\"name\": \"g\", \"arguments\": "
           "{\"a\": }</tool_call>",
           1, &f, "<tool_call>{\"name\": \"g\", \"arguments\": {\"a\": }</tool_call>");
    /* a block without a name is not a call */
    expect(HEARTH_CHAT_CHATML, "<tool_call>{\"arguments\":{}}</tool_call>", 0, NULL,
           "<tool_call>{\"arguments\":{}}</tool_call>");
    /* unicode in arguments, kept as UTF-8 */
    exp_call u = {"search", "{\"q\":\"h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x8E\x89\",\"esc\":\"\xC3\xA9\"}"};
    expect(HEARTH_CHAT_QWEN3,
           "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C "
           "\xF0\x9F\x8E\x89\", \"esc\": \"\\u00e9\"}}\n</tool_call>",
           1, &u, "");
    /* unclosed last tag (generation stopped at the closing tag) */
    expect(HEARTH_CHAT_QWEN3, "Sure.\n<tool_call>\n{\"name\":\"f\",\"arguments\":{}}\n", 1, &f, "Sure.");
    /* arguments given as a JSON string, or missing */
    exp_call sa = {"f", "{\"a\":1}"};
    expect(HEARTH_CHAT_CHATML, "<tool_call>{\"name\":\"f\",\"arguments\":\"{\\\"a\\\": 1}\"}</tool_call>", 1, &sa, "");
    expect(HEARTH_CHAT_CHATML, "<tool_call>{\"name\":\"f\"}</tool_call>", 1, &f, "");
    expect(HEARTH_CHAT_CHATML, "<tool_call>{\"name\":\"f\",\"arguments\":null}</tool_call>", 1, &f, "");
    /* "parameters" and the OpenAI shape inside tags */
    expect(HEARTH_CHAT_CHATML, "<tool_call>{\"name\":\"f\",\"parameters\":{\"a\":1}}</tool_call>", 1, &sa, "");
    expect(HEARTH_CHAT_CHATML,
           "<tool_call>{\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}"
           "</tool_call>",
           1, &sa, "");
    /* surrounding text on both sides */
    expect(HEARTH_CHAT_UNKNOWN, "Before <tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call> after", 1, &f,
           "Before  after");
    /* qwen3 thinking: calls after </think>; an empty think block is dropped */
    expect(HEARTH_CHAT_QWEN3,
           "<think>\nI should call f.\n</think>\n\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>", 1,
           &f, "<think>\nI should call f.\n</think>");
    expect(HEARTH_CHAT_QWEN3, "<think>\n\n</think>\n\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>",
           1, &f, "");
    /* a tag mentioned while thinking is not a call */
    expect(HEARTH_CHAT_QWEN3, "<think>use <tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call></think>Hello", 0,
           NULL, "<think>use <tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call></think>Hello");
    /* braces inside strings do not confuse the scanner */
    exp_call br = {"echo", "{\"s\":\"}{][\\\"\"}"};
    expect(HEARTH_CHAT_CHATML, "<tool_call>{\"name\":\"echo\",\"arguments\":{\"s\":\"}{][\\\"\"}}</tool_call>", 1, &br,
           "");
    /* no calls: content is the trimmed text */
    expect(HEARTH_CHAT_CHATML, "  \n Just an answer.\n\n", 0, NULL, "Just an answer.");
    expect(HEARTH_CHAT_CHATML, "", 0, NULL, "");
}

static void test_llama3(void) {
    exp_call w = {"get_weather", "{\"city\":\"Paris\"}"};
    expect(HEARTH_CHAT_LLAMA3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", 1, &w, "");
    expect(HEARTH_CHAT_LLAMA3, "\n  {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}  \n", 1, &w, "");
    exp_call two[] = {{"a", "{}"}, {"b", "{\"k\":true}"}};
    expect(HEARTH_CHAT_LLAMA3, "{\"name\": \"a\", \"parameters\": {}}{\"name\": \"b\", \"parameters\": {\"k\": true}}", 2,
           two, "");
    expect(HEARTH_CHAT_LLAMA3, "{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"k\": true}}",
           2, two, "");
    exp_call x = {"f", "{\"x\":1}"};
    expect(HEARTH_CHAT_LLAMA3, "<|python_tag|>{\"name\": \"f\", \"parameters\": {\"x\": 1}}<|eom_id|>", 1, &x, "");
    expect(HEARTH_CHAT_LLAMA3, "Checking.<|python_tag|>{\"name\": \"f\", \"parameters\": {\"x\": 1}}", 1, &x,
           "Checking.");
    exp_call py = {"brave_search", "{\"query\":\"hearth inference\",\"count\":3,\"safe\":true,\"lang\":null}"};
    expect(HEARTH_CHAT_LLAMA3,
           "<|python_tag|>brave_search.call(query=\"hearth inference\", count=3, safe=True, lang=None)", 1, &py, "");
    exp_call py2 = {"wolfram_alpha", "{\"query\":\"2+2\"}"};
    expect(HEARTH_CHAT_LLAMA3, "<|python_tag|>wolfram_alpha.call(query='2+2')<|eom_id|>", 1, &py2, "");
    /* plain code after the tag is not a call */
    expect(HEARTH_CHAT_LLAMA3, "<|python_tag|>print(1 +", 0, NULL, "<|python_tag|>print(1 +");
    /* JSON that is not a call, and text with JSON inside, stay content */
    expect(HEARTH_CHAT_LLAMA3, "{\"city\": \"Paris\"}", 0, NULL, "{\"city\": \"Paris\"}");
    expect(HEARTH_CHAT_LLAMA3, "{\"name\": \"Bob\"}", 0, NULL, "{\"name\": \"Bob\"}");
    const char *mixed = "The call would be {\"name\": \"f\", \"parameters\": {}} but I won't.";
    expect(HEARTH_CHAT_LLAMA3, mixed, 0, NULL, mixed);
    expect(HEARTH_CHAT_LLAMA3, "{\"name\": \"f\", \"parameters\": {\"a\": }", 0, NULL,
           "{\"name\": \"f\", \"parameters\": {\"a\": }");
    /* Hermes tags work for llama3 fine-tunes too */
    expect(HEARTH_CHAT_LLAMA3, "<tool_call>{\"name\":\"f\",\"arguments\":{\"x\":1}}</tool_call>", 1, &x, "");
}

static void test_mistral(void) {
    exp_call two[] = {{"a", "{\"x\":1}"}, {"b", "{}"}};
    expect(HEARTH_CHAT_MISTRAL,
           "[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {\"x\": 1}}, {\"name\": \"b\", \"arguments\": {}}]", 2, two,
           "");
    expect(HEARTH_CHAT_MISTRAL,
           "[TOOL_CALLS][{\"name\":\"a\",\"arguments\":{\"x\":1},\"id\":\"abc123xyz\"},{\"name\":\"b\",\"arguments\":{}}]"
           "</s>",
           2, two, "</s>");
    exp_call a = {"a", "{}"};
    expect(HEARTH_CHAT_MISTRAL, "Let me look.[TOOL_CALLS][{\"name\":\"a\",\"arguments\":{}}]", 1, &a, "Let me look.");
    exp_call w = {"get_weather", "{\"city\":\"Paris\"}"};
    expect(HEARTH_CHAT_MISTRAL, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}", 1, &w, "");
    exp_call w2[] = {{"get_weather", "{\"city\":\"Paris\"}"}, {"get_time", "{\"tz\":\"CET\"}"}};
    expect(HEARTH_CHAT_MISTRAL,
           "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[CALL_ID]x1[ARGS]{\"tz\": \"CET\"}", 2,
           w2, "");
    expect(HEARTH_CHAT_MISTRAL, "[TOOL_CALLS] {\"name\": \"a\", \"arguments\": {}}", 1, &a, "");
    const char *bad = "[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {]";
    expect(HEARTH_CHAT_MISTRAL, bad, 0, NULL, bad);
    expect(HEARTH_CHAT_MISTRAL, "[TOOL_CALLS]", 0, NULL, "[TOOL_CALLS]");
    expect(HEARTH_CHAT_MISTRAL, "No tools needed.", 0, NULL, "No tools needed.");
}

static void test_fallbacks(void) {
    exp_call f = {"f", "{\"a\":1}"};
    expect(HEARTH_CHAT_GEMMA, "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}}</tool_call>", 1, &f, "");
    expect(HEARTH_CHAT_GEMMA, "```json\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n```", 1, &f, "");
    expect(HEARTH_CHAT_PHI3, "{\"name\": \"f\", \"arguments\": {\"a\": 1}}", 1, &f, "");
    expect(HEARTH_CHAT_PHI3, "[{\"name\": \"f\", \"arguments\": {\"a\": 1}}]", 1, &f, "");
    expect(HEARTH_CHAT_LLAMA2, "I cannot call tools.", 0, NULL, "I cannot call tools.");
    expect(HEARTH_CHAT_UNKNOWN, "[TOOL_CALLS][{\"name\":\"f\",\"arguments\":{\"a\":1}}]", 1, &f, "");
    expect(HEARTH_CHAT_UNKNOWN, "{\"name\": \"Bob\", \"age\": 3}", 0, NULL, "{\"name\": \"Bob\", \"age\": 3}");
    expect(HEARTH_CHAT_UNKNOWN, "[1, 2, 3]", 0, NULL, "[1, 2, 3]");
}

/* Bad input never crashes and malformed pieces stay in the content. */
static void test_hostile(void) {
    json_t *tc = NULL;
    char *ct = NULL;
    CHECK(hearth_toolcall_parse(HEARTH_CHAT_CHATML, "x", 1, NULL, &ct) == HEARTH_ERR_INVALID, "NULL calls out");
    CHECK(hearth_toolcall_parse(HEARTH_CHAT_CHATML, "x", 1, &tc, NULL) == HEARTH_ERR_INVALID, "NULL content out");
    CHECK(hearth_toolcall_parse(HEARTH_CHAT_CHATML, NULL, 3, &tc, &ct) == HEARTH_ERR_INVALID, "NULL text");
    CHECK(hearth_toolcall_parse(HEARTH_CHAT_CHATML, NULL, 0, &tc, &ct) == HEARTH_OK, "NULL empty text");
    CHECK(tc && json_array_size(tc) == 0 && ct && !*ct, "empty result");
    json_decref(tc);
    hearth_free(ct);
    /* deep brackets, unterminated strings, NUL bytes, invalid UTF-8 */
    size_t n = 200000;
    char *big = malloc(n + 64);
    strcpy(big, "<tool_call>");
    memset(big + 11, '[', n);
    strcpy(big + 11 + n, "</tool_call>");
    const char *cases[] = {"<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": \"unterminated}}</tool_call>",
                           "<tool_call><tool_call><tool_call>", "</tool_call><tool_call>", "[TOOL_CALLS][TOOL_CALLS]x[ARGS]",
                           "<|python_tag|>f(a=", "<|python_tag|>f(a='x", "```json\n```", "```", "{", "}", "[", "]]]",
                           "<tool_call>{\"name\":\"f\",\"arguments\":{\"s\":\"\xff\xfe\"}}</tool_call>"};
    hearth_chat_family fams[] = {HEARTH_CHAT_UNKNOWN, HEARTH_CHAT_CHATML, HEARTH_CHAT_QWEN3, HEARTH_CHAT_LLAMA3,
                                 HEARTH_CHAT_LLAMA2, HEARTH_CHAT_MISTRAL, HEARTH_CHAT_GEMMA, HEARTH_CHAT_PHI3};
    for (size_t fi = 0; fi < sizeof fams / sizeof fams[0]; fi++) {
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            hearth_status st = hearth_toolcall_parse(fams[fi], cases[k], strlen(cases[k]), &tc, &ct);
            CHECK(st == HEARTH_OK, "case %zu", k);
            CHECK(tc && json_array_size(tc) == 0, "fam %d case %zu: no call from malformed input", (int)fams[fi], k);
            json_decref(tc);
            hearth_free(ct);
        }
        CHECK(hearth_toolcall_parse(fams[fi], big, strlen(big), &tc, &ct) == HEARTH_OK, "deep brackets");
        CHECK(tc && json_array_size(tc) == 0 && ct && strlen(ct) == strlen(big), "deep brackets kept");
        json_decref(tc);
        hearth_free(ct);
        const char nul[] = "A\0B <tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>";
        CHECK(hearth_toolcall_parse(fams[fi], nul, sizeof nul - 1, &tc, &ct) == HEARTH_OK, "NUL");
        CHECK(tc && json_array_size(tc) == 1, "call after NUL");
        CHECK(ct && ct[0] == 'A' && ct[1] == '\0', "content keeps bytes up to NUL");
        json_decref(tc);
        hearth_free(ct);
    }
    free(big);
}

static void test_oom(void) {
    const char *text = "Hi <tool_call>{\"name\":\"a\",\"arguments\":{\"x\":[1,2]}}</tool_call>"
                       "<tool_call>{\"name\":\"b\",\"arguments\":{}}</tool_call>";
    int ok_at = -1;
    for (long n = 0; n < 1000; n++) {
        json_t *tc = NULL;
        char *ct = NULL;
        hearth_alloc_fail_after(n);
        hearth_status st = hearth_toolcall_parse(HEARTH_CHAT_QWEN3, text, strlen(text), &tc, &ct);
        hearth_alloc_fail_after(-1);
        if (st == HEARTH_OK) {
            CHECK(json_array_size(tc) == 2 && !strcmp(ct, "Hi"), "result after OOM loop");
            json_decref(tc);
            hearth_free(ct);
            ok_at = (int)n;
            break;
        }
        CHECK(st == HEARTH_ERR_NOMEM && !tc && !ct, "fail_after %ld: %d", n, st);
    }
    CHECK(ok_at > 0, "OOM loop never succeeded");
}

/* Renders [user, assistant(tool_calls)] with the family's built-in template
 * and parses the assistant part back. */
static void round_trip(hearth_chat_family fam, const char *calls_json) {
    hearth_chat_template *t = NULL;
    const char *src = hearth_chat_builtin_source(fam);
    REQUIRE(hearth_chat_template_new(src, strlen(src), &t) == HEARTH_OK, "template %s: %s",
            hearth_chat_family_name(fam), hearth_error_last());
    json_t *calls = json_loads(calls_json, 0, NULL);
    json_t *user = json_pack("[{s:s, s:s}]", "role", "user", "content", "What is the weather?");
    json_t *conv = json_pack("[{s:s, s:s}, {s:s, s:s, s:O}]", "role", "user", "content", "What is the weather?", "role",
                             "assistant", "content", "", "tool_calls", calls);
    json_t *tools = json_pack("[{s:s, s:{s:s, s:{s:s}}}]", "type", "function", "function", "name", "get_weather",
                              "parameters", "type", "object");
    json_t *extra = json_pack("{s:s, s:s}", "bos_token", "<s>", "eos_token", "</s>");
    char *full = NULL, *prefix = NULL;
    size_t nf = 0, npx = 0;
    hearth_status s1 = hearth_chat_render(t, conv, tools, false, extra, &full, &nf);
    hearth_status s2 = hearth_chat_render(t, user, tools, true, extra, &prefix, &npx);
    CHECK(s1 == HEARTH_OK && s2 == HEARTH_OK, "render %s: %s", hearth_chat_family_name(fam), hearth_error_last());
    if (s1 == HEARTH_OK && s2 == HEARTH_OK) {
        /* Mistral's template has no generation prompt: the prefix is the user turn */
        CHECK(npx <= nf && memcmp(full, prefix, npx) == 0, "%s: prompt is a prefix of the conversation",
              hearth_chat_family_name(fam));
        const char *reply = full + npx;
        size_t nr = nf - npx;
        const char *ends[] = {"<|im_end|>\n", "<|eot_id|>", "</s>"};
        for (size_t k = 0; k < 3; k++) {
            size_t el = strlen(ends[k]);
            if (nr >= el && !memcmp(reply + nr - el, ends[k], el)) nr -= el;
        }
        json_t *tc = NULL;
        char *ct = NULL;
        CHECK(hearth_toolcall_parse(fam, reply, nr, &tc, &ct) == HEARTH_OK, "parse");
        CHECK(json_array_size(tc) == json_array_size(calls), "%s: %d calls back from %.*s, want %d",
              hearth_chat_family_name(fam), (int)json_array_size(tc), (int)nr, reply, (int)json_array_size(calls));
        for (size_t i = 0; i < json_array_size(tc) && i < json_array_size(calls); i++) {
            json_t *got = json_object_get(json_array_get(tc, i), "function");
            json_t *want = json_object_get(json_array_get(calls, i), "function");
            CHECK(json_equal(json_object_get(got, "name"), json_object_get(want, "name")), "%s: name",
                  hearth_chat_family_name(fam));
            json_t *wa = json_object_get(want, "arguments");
            json_t *wa_parsed = json_is_string(wa) ? json_loads(json_string_value(wa), 0, NULL) : json_incref(wa);
            json_t *ga = json_loads(json_string_value(json_object_get(got, "arguments")), 0, NULL);
            CHECK(ga && wa_parsed && json_equal(ga, wa_parsed), "%s: arguments %s",
                  hearth_chat_family_name(fam), json_string_value(json_object_get(got, "arguments")));
            json_decref(ga);
            json_decref(wa_parsed);
        }
        CHECK(ct && *ct == '\0', "%s: content \"%s\" should be empty", hearth_chat_family_name(fam), ct ? ct : "");
        json_decref(tc);
        hearth_free(ct);
    }
    hearth_free(full);
    hearth_free(prefix);
    json_decref(calls);
    json_decref(user);
    json_decref(conv);
    json_decref(tools);
    json_decref(extra);
    hearth_chat_template_free(t);
}

static void test_round_trip(void) {
    const char *one = "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                      "\"arguments\":{\"city\":\"Z\xC3\xBCrich\",\"days\":[1,2],\"opts\":{\"unit\":\"c\",\"q\":\"a\\\"b\"}}}}]";
    const char *two = "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                      "\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}},"
                      "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
                      "\"arguments\":{\"tz\":\"\xE6\x9D\xB1\xE4\xBA\xAC\"}}}]";
    hearth_chat_family fams[] = {HEARTH_CHAT_CHATML, HEARTH_CHAT_QWEN3, HEARTH_CHAT_LLAMA3, HEARTH_CHAT_MISTRAL};
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        round_trip(fams[i], one);
        round_trip(fams[i], two);
    }
}

int main(void) {
    test_hermes();
    test_llama3();
    test_mistral();
    test_fallbacks();
    test_hostile();
    test_oom();
    test_round_trip();
    TEST_DONE();
}
