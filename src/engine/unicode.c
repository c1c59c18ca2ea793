/* unicode.c - UTF-8 coding and lookups in the generated Unicode tables. */
#include "engine/unicode.h"

#include "engine/unicode_tables.h"

/* Returns the sequence length a lead byte announces: 1 for ASCII and for
 * bytes that cannot start a sequence (continuation bytes, 0xF8..0xFF), so
 * a caller always advances. Never blocks. */
size_t hearth_utf8_seq_len(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead < 0xC0) return 1;
    if (lead < 0xE0) return 2;
    if (lead < 0xF0) return 3;
    if (lead < 0xF8) return 4;
    return 1;
}

/* Returns the decoded code point and sets *adv. The structure is checked the
 * way llama.cpp's decoder checks it (lead byte class, continuation bytes,
 * truncation), so tokenization of odd input matches it: overlong forms and
 * surrogates decode to their value, while anything above U+10FFFF, a stray
 * continuation byte or a truncated sequence gives U+FFFD with *adv = 1.
 * Never blocks. */
uint32_t hearth_utf8_decode(const char *s, size_t len, size_t *adv) {
    const unsigned char *u = (const unsigned char *)s;
    *adv = 1;
    if (len == 0) return 0xFFFD;
    unsigned char c = u[0];
    if (c < 0x80) return c;
    size_t n = hearth_utf8_seq_len(c);
    if (n == 1 || n > len) return 0xFFFD;
    uint32_t cp = c & (0x7Fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) return 0xFFFD;
        cp = (cp << 6) | (u[i] & 0x3Fu);
    }
    if (cp > 0x10FFFF) return 0xFFFD;
    *adv = n;
    return cp;
}

/* Returns the number of bytes written (1..4), or 0 when cp > U+10FFFF.
 * Surrogates are encoded like any other value (as llama.cpp does), so a
 * decode/encode round trip reproduces the input bytes. Never blocks. */
size_t hearth_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}

/* Returns the HEARTH_UC_* flags; code points past U+10FFFF are UNDEFINED.
 * Binary search over the range starts. Never blocks. */
unsigned hearth_unicode_flags(uint32_t cp) {
    if (cp > 0x10FFFF) return HEARTH_UC_UNDEFINED;
    unsigned lo = 0, hi = hearth_uc_flag_start_n; /* flag_start[lo] <= cp < flag_start[hi] */
    while (hi - lo > 1) {
        unsigned mid = lo + (hi - lo) / 2;
        if (hearth_uc_flag_start[mid] <= cp) lo = mid;
        else hi = mid;
    }
    return hearth_uc_flag_value[lo];
}

/* Returns the simple lowercase mapping of cp (cp itself when it has none).
 * Never blocks. */
uint32_t hearth_unicode_tolower(uint32_t cp) {
    if (cp < 128) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    /* last run whose start <= cp */
    unsigned lo = 0, hi = hearth_uc_lower_runs_n;
    if (hi == 0 || cp < hearth_uc_lower_runs[0].start) return cp;
    while (hi - lo > 1) {
        unsigned mid = lo + (hi - lo) / 2;
        if (hearth_uc_lower_runs[mid].start <= cp) lo = mid;
        else hi = mid;
    }
    const hearth_uc_lower_run *r = &hearth_uc_lower_runs[lo];
    uint32_t off = cp - r->start;
    if (off % r->stride != 0 || off / r->stride >= r->count) return cp;
    return (uint32_t)((int64_t)cp + r->delta);
}

/* Returns the first code point of cp's canonical decomposition (cp itself
 * when it has none). Never blocks. */
uint32_t hearth_unicode_nfd_first(uint32_t cp) {
    unsigned lo = 0, hi = hearth_uc_nfd_ranges_n;
    if (cp < 0xC0 || hi == 0 || cp < hearth_uc_nfd_ranges[0].first) return cp;
    while (hi - lo > 1) {
        unsigned mid = lo + (hi - lo) / 2;
        if (hearth_uc_nfd_ranges[mid].first <= cp) lo = mid;
        else hi = mid;
    }
    const hearth_uc_nfd_range *r = &hearth_uc_nfd_ranges[lo];
    return cp <= r->last ? r->value : cp;
}

/* Returns the Unicode version the tables were generated from ("15.0.0"). */
const char *hearth_unicode_version_str(void) {
    return hearth_unicode_version;
}
