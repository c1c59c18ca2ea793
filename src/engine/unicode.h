/* unicode.h - the Unicode facts the tokenizers need: UTF-8 coding, general
 * categories, White_Space, lowercase mapping and the first code point of a
 * canonical decomposition. Tables are generated from the Unicode Character
 * Database by scripts/gen_unicode_tables.py and committed (unicode_tables.c),
 * so building hearth needs no Unicode data. Not a public header. */
#ifndef HEARTH_UNICODE_H
#define HEARTH_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Category flags; exactly one of the first seven is set for an assigned code
 * point (unassigned ones get HEARTH_UC_UNDEFINED). WHITESPACE is the
 * White_Space property and combines with the others. LOWERCASE / UPPERCASE
 * mark general categories Ll / Lu.
 * Note: llama.cpp's tables count unassigned code points as \p{C}, i.e. as
 * control; code emulating its `is_control` should test
 * (HEARTH_UC_CONTROL | HEARTH_UC_UNDEFINED). */
enum {
    HEARTH_UC_UNDEFINED = 1 << 0,
    HEARTH_UC_NUMBER = 1 << 1,      /* N* */
    HEARTH_UC_LETTER = 1 << 2,      /* L* */
    HEARTH_UC_SEPARATOR = 1 << 3,   /* Z* */
    HEARTH_UC_MARK = 1 << 4,        /* M* (accent marks) */
    HEARTH_UC_PUNCTUATION = 1 << 5, /* P* */
    HEARTH_UC_SYMBOL = 1 << 6,      /* S* */
    HEARTH_UC_CONTROL = 1 << 7,     /* C* (Cc, Cf, Co, Cs) */
    HEARTH_UC_WHITESPACE = 1 << 8,  /* White_Space property */
    HEARTH_UC_LOWERCASE = 1 << 9,
    HEARTH_UC_UPPERCASE = 1 << 10
};

/* Decodes one code point from s[0..len) (len >= 1). Sets *adv to the bytes
 * used (>= 1). An invalid or truncated sequence decodes as U+FFFD with
 * *adv = 1. Like llama.cpp, only the byte structure is checked: overlong
 * forms and surrogates decode to their value (values above U+10FFFF do not). */
uint32_t hearth_utf8_decode(const char *s, size_t len, size_t *adv);
/* Encodes cp (<= 0x10FFFF) into out; returns 1..4 (0 for an invalid cp). */
size_t hearth_utf8_encode(uint32_t cp, char out[4]);
/* Length of the UTF-8 sequence a lead byte starts (1..4; 1 for a
 * continuation or invalid byte). */
size_t hearth_utf8_seq_len(unsigned char lead);

/* HEARTH_UC_* flags of a code point. */
unsigned hearth_unicode_flags(uint32_t cp);
/* Simple lowercase mapping (cp itself when none). */
uint32_t hearth_unicode_tolower(uint32_t cp);
/* First code point of the canonical decomposition (cp itself when none);
 * e.g. U+00E9 -> U+0065. */
uint32_t hearth_unicode_nfd_first(uint32_t cp);
/* Version of the Unicode Character Database the tables come from. */
const char *hearth_unicode_version_str(void);

#endif
