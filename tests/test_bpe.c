/* test_bpe.c - Unicode helpers and the byte-level BPE tokenizer against
 * llama.cpp's reference ids (../shared/tokenizer/{gpt-2,llama-bpe,qwen2}). */
#include <jansson.h>
#include <time.h>

#include "engine/unicode.h"
#include "engine/vocab_internal.h"
#include "hearth/alloc.h"
#include "hearth/gguf.h"
#include "hearth/tokenizer.h"
#include "test.h"

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_utf8(void) {
    size_t adv;
    CHECK(hearth_utf8_decode("A", 1, &adv) == 'A' && adv == 1);
    CHECK(hearth_utf8_decode("\xC3\xA9", 2, &adv) == 0xE9 && adv == 2);
    CHECK(hearth_utf8_decode("\xE2\x82\xAC", 3, &adv) == 0x20AC && adv == 3);
    CHECK(hearth_utf8_decode("\xF0\x9F\x98\x80", 4, &adv) == 0x1F600 && adv == 4);
    /* invalid: stray continuation, bad lead, truncated, bad continuation */
    CHECK(hearth_utf8_decode("\x80", 1, &adv) == 0xFFFD && adv == 1);
    CHECK(hearth_utf8_decode("\xFF\x41", 2, &adv) == 0xFFFD && adv == 1);
    CHECK(hearth_utf8_decode("\xC3", 1, &adv) == 0xFFFD && adv == 1);
    CHECK(hearth_utf8_decode("\xE2\x82", 2, &adv) == 0xFFFD && adv == 1);
    CHECK(hearth_utf8_decode("\xE2\x41\xAC", 3, &adv) == 0xFFFD && adv == 1);
    CHECK(hearth_utf8_decode("\xF0\x9F\x98", 3, &adv) == 0xFFFD && adv == 1);
    CHECK(hearth_utf8_decode("\xF4\x90\x80\x80", 4, &adv) == 0xFFFD && adv == 1); /* > U+10FFFF */
    CHECK(hearth_utf8_seq_len(0x41) == 1 && hearth_utf8_seq_len(0xC3) == 2 &&
          hearth_utf8_seq_len(0xE2) == 3 && hearth_utf8_seq_len(0xF0) == 4 &&
          hearth_utf8_seq_len(0x80) == 1 && hearth_utf8_seq_len(0xFF) == 1);
    char b[4];
    CHECK(hearth_utf8_encode(0x41, b) == 1 && b[0] == 'A');
    CHECK(hearth_utf8_encode(0xE9, b) == 2 && memcmp(b, "\xC3\xA9", 2) == 0);
    CHECK(hearth_utf8_encode(0x20AC, b) == 3 && memcmp(b, "\xE2\x82\xAC", 3) == 0);
    CHECK(hearth_utf8_encode(0x10FFFF, b) == 4 && memcmp(b, "\xF4\x8F\xBF\xBF", 4) == 0);
    CHECK(hearth_utf8_encode(0x110000, b) == 0);
    /* round trip of every scalar value */
    int bad = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        size_t n = hearth_utf8_encode(cp, b);
        if (hearth_utf8_decode(b, n, &adv) != cp || adv != n) bad++;
    }
    CHECK(bad == 0, "%d code points do not round-trip", bad);
}

static void test_unicode_tables(void) {
    CHECK(strcmp(hearth_unicode_version_str(), "15.0.0") == 0, "%s", hearth_unicode_version_str());
    /* one code point per category (values from the UCD) */
    CHECK(hearth_unicode_flags('a') == (HEARTH_UC_LETTER | HEARTH_UC_LOWERCASE));
    CHECK(hearth_unicode_flags('Q') == (HEARTH_UC_LETTER | HEARTH_UC_UPPERCASE));
    CHECK(hearth_unicode_flags(0x4E2D) == HEARTH_UC_LETTER);       /* CJK, Lo */
    CHECK(hearth_unicode_flags('7') == HEARTH_UC_NUMBER);
    CHECK(hearth_unicode_flags(0x0663) == HEARTH_UC_NUMBER);       /* ARABIC-INDIC THREE */
    CHECK(hearth_unicode_flags(0x2163) == HEARTH_UC_NUMBER);       /* ROMAN NUMERAL FOUR, Nl */
    CHECK(hearth_unicode_flags(' ') == (HEARTH_UC_SEPARATOR | HEARTH_UC_WHITESPACE));
    CHECK(hearth_unicode_flags(0x3000) == (HEARTH_UC_SEPARATOR | HEARTH_UC_WHITESPACE));
    CHECK(hearth_unicode_flags(0x2028) == (HEARTH_UC_SEPARATOR | HEARTH_UC_WHITESPACE));
    CHECK(hearth_unicode_flags('\n') == (HEARTH_UC_CONTROL | HEARTH_UC_WHITESPACE));
    CHECK(hearth_unicode_flags(0x85) == (HEARTH_UC_CONTROL | HEARTH_UC_WHITESPACE));
    CHECK(hearth_unicode_flags(0x1C) == HEARTH_UC_CONTROL);        /* not White_Space */
    CHECK(hearth_unicode_flags(0x200B) == HEARTH_UC_CONTROL);      /* ZWSP is Cf */
    CHECK(hearth_unicode_flags(0xE000) == HEARTH_UC_CONTROL);      /* private use */
    CHECK(hearth_unicode_flags(0x0301) == HEARTH_UC_MARK);
    CHECK(hearth_unicode_flags('!') == HEARTH_UC_PUNCTUATION);
    CHECK(hearth_unicode_flags(0x3002) == HEARTH_UC_PUNCTUATION);  /* IDEOGRAPHIC FULL STOP */
    CHECK(hearth_unicode_flags('~') == HEARTH_UC_SYMBOL);
    CHECK(hearth_unicode_flags(0x1F600) == HEARTH_UC_SYMBOL);      /* emoji, So */
    CHECK(hearth_unicode_flags(0x0378) == HEARTH_UC_UNDEFINED);    /* unassigned */
    CHECK(hearth_unicode_flags(0x10FFFF) == HEARTH_UC_UNDEFINED);  /* noncharacter */
    CHECK(hearth_unicode_flags(0x110000) == HEARTH_UC_UNDEFINED);
    CHECK(hearth_unicode_flags(0x20000) == HEARTH_UC_LETTER);      /* CJK ext B range */

    CHECK(hearth_unicode_tolower('A') == 'a' && hearth_unicode_tolower('a') == 'a');
    CHECK(hearth_unicode_tolower(0xC9) == 0xE9);
    CHECK(hearth_unicode_tolower(0x0100) == 0x0101 && hearth_unicode_tolower(0x0101) == 0x0101);
    CHECK(hearth_unicode_tolower(0x0130) == 'i');                  /* İ */
    CHECK(hearth_unicode_tolower(0x212A) == 'k');                  /* KELVIN SIGN */
    CHECK(hearth_unicode_tolower(0x0410) == 0x0430);               /* Cyrillic А */
    CHECK(hearth_unicode_tolower(0x0391) == 0x03B1);               /* Greek Α */
    CHECK(hearth_unicode_tolower(0x10400) == 0x10428);             /* Deseret */
    CHECK(hearth_unicode_tolower(0x4E2D) == 0x4E2D);

    CHECK(hearth_unicode_nfd_first(0xE9) == 'e');
    CHECK(hearth_unicode_nfd_first(0xC5) == 'A');
    CHECK(hearth_unicode_nfd_first(0x212B) == 'A');                /* ANGSTROM SIGN -> Å -> A */
    CHECK(hearth_unicode_nfd_first(0x1E08) == 'C');                /* Ḉ, recursive */
    CHECK(hearth_unicode_nfd_first(0xAC00) == 0x1100);             /* 가 -> ᄀ */
    CHECK(hearth_unicode_nfd_first(0xD7A3) == 0x1112);             /* 힣 -> ᄒ */
    CHECK(hearth_unicode_nfd_first(0xFB01) == 0xFB01);             /* ﬁ: compatibility only */
    CHECK(hearth_unicode_nfd_first('e') == 'e' && hearth_unicode_nfd_first(0x0301) == 0x0301);
}

static void test_pre_names(void) {
    static const struct {
        const char *name;
        hearth_bpe_pre pre;
    } known[] = {
        {"default", HEARTH_PRE_DEFAULT},       {"llama-bpe", HEARTH_PRE_LLAMA3},
        {"llama3", HEARTH_PRE_LLAMA3},         {"llama-v3", HEARTH_PRE_LLAMA3},
        {"qwen2", HEARTH_PRE_QWEN2},           {"gpt-2", HEARTH_PRE_GPT2},
        {"deepseek-llm", HEARTH_PRE_DEEPSEEK_LLM}, {"deepseek-coder", HEARTH_PRE_DEEPSEEK_CODER},
        {"deepseek-v3", HEARTH_PRE_DEEPSEEK3_LLM}, {"falcon", HEARTH_PRE_FALCON},
        {"starcoder", HEARTH_PRE_STARCODER},   {"mpt", HEARTH_PRE_MPT},
        {"refact", HEARTH_PRE_REFACT},         {"smollm", HEARTH_PRE_SMOLLM},
        {"command-r", HEARTH_PRE_COMMAND_R},   {"olmo", HEARTH_PRE_OLMO},
        {"stablelm2", HEARTH_PRE_STABLELM2},   {"dbrx", HEARTH_PRE_DBRX},
        {"jais", HEARTH_PRE_JAIS},             {"tekken", HEARTH_PRE_TEKKEN},
        {"gpt-4o", HEARTH_PRE_GPT4O},          {"chatglm-bpe", HEARTH_PRE_CHATGLM4},
        {"codeshell", HEARTH_PRE_CODESHELL},   {"bloom", HEARTH_PRE_BLOOM},
        {"poro-chat", HEARTH_PRE_PORO},        {"viking", HEARTH_PRE_VIKING},
        {"exaone", HEARTH_PRE_EXAONE},         {"minerva-7b", HEARTH_PRE_MINERVA},
        {"chameleon", HEARTH_PRE_CHAMELEON},   {"megrez", HEARTH_PRE_QWEN2},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        hearth_bpe_pre p = HEARTH_PRE_COUNT;
        hearth_status st = hearth_bpe_pre_from_name(known[i].name, &p);
        CHECK(st == HEARTH_OK && p == known[i].pre, "%s: st %d pre %d", known[i].name, st, (int)p);
    }
    hearth_bpe_pre_info info;
    CHECK(hearth_bpe_pre_lookup("llama-bpe", &info) == HEARTH_OK && info.ignore_merges &&
          info.add_bos && info.clean_spaces);
    CHECK(hearth_bpe_pre_lookup("qwen2", &info) == HEARTH_OK && !info.ignore_merges &&
          !info.clean_spaces);
    CHECK(hearth_bpe_pre_lookup("dbrx", &info) == HEARTH_OK && !info.ignore_merges);
    hearth_bpe_pre p;
    CHECK(hearth_bpe_pre_from_name("no-such-pre", &p) == HEARTH_ERR_UNSUPPORTED);
    CHECK(strstr(hearth_error_last(), "no-such-pre") != NULL, "detail: %s", hearth_error_last());
}

/* Pre-tokenizer splits worked out by hand from the regex lists of
 * llama.cpp's llm_tokenizer_bpe (piece ends in code points). */
static void test_pre_split(void) {
    static const struct {
        hearth_bpe_pre pre;
        const char *text;
        size_t ends[12];
    } cases[] = {
        /* [\p{P}$+<=>^~|]+ -> gpt2 -> \p{N}+ -> [0-9]{3} */
        {HEARTH_PRE_DEFAULT, "Hello, world!! 12345", {5, 6, 12, 14, 15, 18, 20}},
        {HEARTH_PRE_GPT2, "  hello", {1, 7}},
        {HEARTH_PRE_GPT2, "it's  \tok", {2, 4, 6, 7, 9}},
        {HEARTH_PRE_LLAMA3, "1234567", {3, 6, 7}},
        {HEARTH_PRE_LLAMA3, "IT'S \n\n x", {2, 4, 7, 9}},
        {HEARTH_PRE_QWEN2, "x12", {1, 2, 3}},
        {HEARTH_PRE_STARCODER, "ab 123", {2, 3, 4, 5, 6}},
        /* \p{N}{1,3} -> [CJK kana]+ -> main */
        {HEARTH_PRE_DEEPSEEK3_LLM, "Hi 12345 \xe4\xb8\xad\xe6\x96\x87" "abc", {2, 3, 6, 8, 9, 11, 14}},
        {HEARTH_PRE_DEEPSEEK_CODER, "x\n\ny", {1, 2, 3, 4}},
        {HEARTH_PRE_DEEPSEEK_LLM, "Hi! 42", {2, 3, 4, 6}},
        {HEARTH_PRE_FALCON, "a`b", {1, 2, 3}},
        {HEARTH_PRE_TEKKEN, "HelloWorld ABCdef", {5, 10, 17}},
        {HEARTH_PRE_GPT4O, "I'M here", {3, 8}},
        {HEARTH_PRE_BLOOM, "Hi, you.", {2, 3, 7, 8}},
        /* the digit and punctuation passes cut the sentinel apart */
        {HEARTH_PRE_CHAMELEON, "<sentinel:12>IMGIMGABZ  x", {1, 9, 10, 11, 12, 13, 22, 24, 25}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t *ends = NULL, n = 0;
        hearth_status st = hearth_bpe_pre_split(cases[i].pre, cases[i].text, strlen(cases[i].text),
                                                &ends, &n);
        size_t want_n = 0;
        while (want_n < 12 && cases[i].ends[want_n]) want_n++;
        bool ok = st == HEARTH_OK && n == want_n;
        for (size_t j = 0; ok && j < n; j++) ok = ends[j] == cases[i].ends[j];
        CHECK(ok, "pre %d \"%s\": got %zu pieces", (int)cases[i].pre, cases[i].text, n);
        if (!ok)
            for (size_t j = 0; j < n; j++) fprintf(stderr, "  end %zu\n", ends[j]);
        hearth_free(ends);
    }
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s [", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "%s%d", i ? ", " : "", ids[i]);
    fprintf(stderr, "]\n");
}

/* Returns true when tokenize(text) equals the JSON id list; prints both on a
 * mismatch. */
static bool check_ids(const hearth_vocab *v, const char *name, const char *field, const char *text,
                      size_t len, bool add_special, bool parse_special, const json_t *want) {
    int32_t *ids = NULL;
    size_t n = 0;
    hearth_status st = hearth_tokenize(v, text, len, add_special, parse_special, &ids, &n);
    bool ok = st == HEARTH_OK && json_is_array(want) && json_array_size(want) == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = json_integer_value(json_array_get(want, i)) == ids[i];
    if (!ok) {
        fprintf(stderr, "MISMATCH %s %s (status %d %s) text=\"", name, field, st,
                st ? hearth_error_last() : "");
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)text[i];
            if (c < 32 || c == '"' || c == '\\') fprintf(stderr, "\\x%02x", c);
            else fputc(c, stderr);
        }
        fprintf(stderr, "\"\n");
        print_ids("got ", ids, n);
        size_t wn = json_array_size(want);
        int32_t *w = malloc((wn + 1) * sizeof *w);
        for (size_t i = 0; w && i < wn; i++) w[i] = (int32_t)json_integer_value(json_array_get(want, i));
        if (w) print_ids("want", w, wn);
        free(w);
    }
    hearth_free(ids);
    return ok;
}

static void test_vocab_file(const char *name, bool expect_ignore_merges) {
    char path[256], jpath[256];
    snprintf(path, sizeof path, "tokenizer/%s.gguf", name);
    snprintf(jpath, sizeof jpath, "tokenizer/%s.tests.json", name);
    hearth_gguf *g = NULL;
    hearth_status st = hearth_gguf_open(test_data(path), &g);
    REQUIRE(st == HEARTH_OK, "%s: %s", path, hearth_error_last());
    hearth_vocab *v = NULL;
    double t0 = now_sec();
    st = hearth_vocab_load(g, &v);
    double dt = now_sec() - t0;
    CHECK(st == HEARTH_OK, "%s: %s", name, hearth_error_last());
    if (st != HEARTH_OK) {
        hearth_gguf_free(g);
        return;
    }
    printf("%s: vocab load (incl. merge ranks) %.3f s\n", name, dt);
    CHECK(hearth_vocab_kind_of(v) == HEARTH_VOCAB_BPE);
    CHECK(v->ignore_merges == expect_ignore_merges);

    json_error_t jerr;
    json_t *root = json_load_file(test_data(jpath), JSON_ALLOW_NUL, &jerr);
    CHECK(root && json_is_array(root), "%s: %s", jpath, jerr.text);
    if (!root) {
        hearth_vocab_free(v);
        hearth_gguf_free(g);
        return;
    }
    CHECK(json_array_size(root) == 110, "%s has %zu entries", jpath, json_array_size(root));
    int n_ok = 0, n_all = 0;
    double tt = now_sec();
    for (size_t i = 0; i < json_array_size(root); i++) {
        json_t *e = json_array_get(root, i);
        json_t *jt = json_object_get(e, "text");
        const char *text = json_string_value(jt);
        size_t len = json_string_length(jt);
        if (!text) {
            CHECK(text != NULL, "%s entry %zu has no text", name, i);
            continue;
        }
        bool a = check_ids(v, name, "ids", text, len, false, false, json_object_get(e, "ids"));
        bool b = check_ids(v, name, "ids_parse_special", text, len, false, true,
                           json_object_get(e, "ids_parse_special"));
        bool c = check_ids(v, name, "ids_add_special", text, len, true, false,
                           json_object_get(e, "ids_add_special"));
        CHECK(a && b && c, "%s entry %zu", name, i);
        n_ok += a + b + c;
        n_all += 3;
    }
    printf("%s: %d/%d id lists match (%.3f s)\n", name, n_ok, n_all, now_sec() - tt);
    json_decref(root);
    hearth_vocab_free(v);
    hearth_gguf_free(g);
}

/* Hostile input: invalid UTF-8, NULs, long runs. Must not crash; every id
 * valid; long runs must not go quadratic. */
static void test_robustness(void) {
    hearth_gguf *g = NULL;
    REQUIRE(hearth_gguf_open(test_data("tokenizer/llama-bpe.gguf"), &g) == HEARTH_OK, "%s",
            hearth_error_last());
    hearth_vocab *v = NULL;
    if (hearth_vocab_load(g, &v) != HEARTH_OK) {
        CHECK(0, "load: %s", hearth_error_last());
        hearth_gguf_free(g);
        return;
    }
    int32_t nt = hearth_vocab_n_tokens(v);
    static const char *const bad[] = {"\xff\xfe\x80", "a\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xed\xa0\x80",
                                      "\xc0\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(hearth_tokenize(v, bad[i], strlen(bad[i]), false, false, &ids, &n) == HEARTH_OK);
        CHECK(n > 0);
        for (size_t j = 0; j < n; j++) CHECK(ids[j] >= 0 && ids[j] < nt);
        hearth_free(ids);
    }
    /* a lone invalid byte becomes U+FFFD, as in llama.cpp */
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK(hearth_tokenize(v, "x\x80", 2, false, false, &a, &na) == HEARTH_OK);
    CHECK(hearth_tokenize(v, "x\xEF\xBF\xBD", 4, false, false, &b, &nb) == HEARTH_OK);
    CHECK(na == nb && na > 0 && memcmp(a, b, na * sizeof *a) == 0);
    hearth_free(a);
    hearth_free(b);

    /* allocation failures anywhere in tokenization give NOMEM, never a
     * crash or a leak (checked under ASan) */
    static const char sample[] = "Hello world, it's 2024!\n\tSpaces   and \xe4\xb8\xad\xe6\x96\x87.";
    int n_nomem = 0;
    for (long k = 0; k < 200; k++) {
        int32_t *ids = NULL;
        size_t n = 0;
        hearth_alloc_fail_after(k);
        hearth_status st = hearth_tokenize(v, sample, sizeof sample - 1, true, true, &ids, &n);
        hearth_alloc_fail_after(-1);
        CHECK(st == HEARTH_OK || st == HEARTH_ERR_NOMEM, "fail_after %ld: %d", k, st);
        if (st == HEARTH_ERR_NOMEM) n_nomem++;
        hearth_free(ids);
        if (st == HEARTH_OK) break;
    }
    CHECK(n_nomem > 0);

    /* long runs: letters, spaces, digits, punctuation, mixed bytes */
    size_t big = 200000;
    char *s = malloc(big);
    REQUIRE(s != NULL);
    const char fills[] = {'a', 'A', ' ', '7', '!', '\n'};
    for (size_t f = 0; f < sizeof fills; f++) {
        memset(s, fills[f], big);
        int32_t *ids = NULL;
        size_t n = 0;
        double t0 = now_sec();
        CHECK(hearth_tokenize(v, s, big, false, false, &ids, &n) == HEARTH_OK);
        double dt = now_sec() - t0;
        CHECK(n > 0 && dt < 20.0, "fill '%c': %zu ids in %.2f s", fills[f], n, dt);
        hearth_free(ids);
    }
    uint32_t x = 12345;
    for (size_t i = 0; i < big; i++) {
        x = x * 1103515245u + 12345u;
        s[i] = (char)(x >> 16);
    }
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(hearth_tokenize(v, s, big, false, true, &ids, &n) == HEARTH_OK);
    for (size_t j = 0; j < n; j++)
        if (ids[j] < 0 || ids[j] >= nt) {
            CHECK(0, "bad id %d", ids[j]);
            break;
        }
    hearth_free(ids);
    free(s);
    hearth_vocab_free(v);
    hearth_gguf_free(g);
}

int main(void) {
    test_utf8();
    test_unicode_tables();
    test_pre_names();
    test_pre_split();
    test_vocab_file("gpt-2", false);
    test_vocab_file("llama-bpe", true);
    test_vocab_file("qwen2", false);
    test_robustness();
    TEST_DONE();
}
