/* jinja_lex.c - template text to tokens.
 *
 * Follows Jinja2's lexer in the configuration transformers uses
 * (trim_blocks=True, lstrip_blocks=True):
 *   - `{%-`/`{{-`/`{#-` strip all whitespace before the tag, `-%}`/`-}}`/
 *     `-#}` all whitespace after it;
 *   - trim_blocks drops the first newline after `%}` and `#}` (not `}}`);
 *     `+%}` keeps it;
 *   - lstrip_blocks drops spaces/tabs between the start of a line and a
 *     `{%` or `{#` tag (not `{{`); `{%+` keeps them;
 *   - inside tags, end delimiters only count while brackets are balanced,
 *     so `{{ {'a': {'b': 1}} }}` works.
 * The source has already been newline-normalised by the parser.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "engine/jinja.h"
#include "hearth/alloc.h"

typedef struct lexer {
    jarena *a;
    const char *s;
    size_t n, pos;
    int line;
    jtoks *out;
} lexer;

static hearth_status push(lexer *L, jtok_kind k, int line, const char *p, size_t n) {
    jtoks *t = L->out;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        jtok *v = hearth_reallocarray(t->v, cap, sizeof(jtok));
        if (!v) return hearth_error_set(HEARTH_ERR_NOMEM, "template tokens");
        t->v = v;
        t->cap = cap;
    }
    jtok *tk = &t->v[t->n++];
    memset(tk, 0, sizeof(*tk));
    tk->kind = k;
    tk->line = line;
    tk->p = p;
    tk->n = n;
    return HEARTH_OK;
}

static int count_lines(const char *s, size_t n) {
    int c = 0;
    for (size_t i = 0; i < n; i++) c += s[i] == '\n';
    return c;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Emits a text token for s[from..to) after applying the strip rules of the
 * tag that follows it (sign '-' / '+' / 0, and whether it is a block or
 * comment tag, to which lstrip_blocks applies). */
static hearth_status emit_text(lexer *L, size_t from, size_t to, char sign, bool lstrip_tag,
                               bool line_starting) {
    const char *t = L->s + from;
    size_t n = to - from;
    int line = L->line;
    if (sign == '-') {
        while (n > 0 && is_ws(t[n - 1])) n--;
    } else if (sign != '+' && lstrip_tag) {
        size_t lpos = 0;
        for (size_t i = n; i > 0; i--)
            if (t[i - 1] == '\n') {
                lpos = i;
                break;
            }
        if ((lpos > 0 || line_starting) && lpos < n) {
            bool ws = true;
            for (size_t i = lpos; i < n; i++)
                if (!is_ws(t[i])) {
                    ws = false;
                    break;
                }
            if (ws) n = lpos;
        }
    }
    L->line += count_lines(L->s + from, to - from);
    if (n == 0) return HEARTH_OK;
    return push(L, JT_TEXT, line, t, n);
}

/* Decodes a string literal body (Python escape rules, unknown escapes kept
 * verbatim) into the arena. */
static hearth_status decode_string(lexer *L, const char *p, size_t n, int line, const char **out,
                                   size_t *out_n) {
    if (!memchr(p, '\\', n)) {
        *out = p;
        *out_n = n;
        return HEARTH_OK;
    }
    char *d = jarena_alloc(L->a, n * 2 + 4); /* \U escapes can grow 4 bytes from 10 chars; others shrink */
    if (!d) return hearth_error_set(HEARTH_ERR_NOMEM, "template string");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c != '\\' || i + 1 >= n) {
            d[o++] = c;
            continue;
        }
        char e = p[++i];
        unsigned long cp = 0;
        int hex = 0;
        switch (e) {
        case 'n': d[o++] = '\n'; break;
        case 't': d[o++] = '\t'; break;
        case 'r': d[o++] = '\r'; break;
        case 'b': d[o++] = '\b'; break;
        case 'f': d[o++] = '\f'; break;
        case 'v': d[o++] = '\v'; break;
        case 'a': d[o++] = '\a'; break;
        case '\\': d[o++] = '\\'; break;
        case '\'': d[o++] = '\''; break;
        case '"': d[o++] = '"'; break;
        case '\n': break; /* line continuation */
        case 'x': hex = 2; break;
        case 'u': hex = 4; break;
        case 'U': hex = 8; break;
        default:
            if (e >= '0' && e <= '7') {
                int k = 0;
                while (k < 3 && i < n && p[i] >= '0' && p[i] <= '7') {
                    cp = cp * 8 + (unsigned long)(p[i] - '0');
                    i++;
                    k++;
                }
                i--;
                hex = -1;
            } else {
                d[o++] = '\\';
                d[o++] = e;
            }
        }
        if (hex > 0) {
            if (i + (size_t)hex >= n) {
                return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected %d hex digits in string escape",
                                        line, hex);
            }
            for (int k = 0; k < hex; k++) {
                char h = p[i + 1 + (size_t)k];
                if (!isxdigit((unsigned char)h))
                    return hearth_error_set(HEARTH_ERR_FORMAT,
                                            "line %d: expected %d hex digits in string escape", line, hex);
                cp = cp * 16 + (unsigned long)(isdigit((unsigned char)h) ? h - '0' : (tolower((unsigned char)h) - 'a' + 10));
            }
            i += (size_t)hex;
        }
        if (hex != 0) {
            if (cp > 0x10FFFF)
                return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected a code point <= 0x10FFFF", line);
            if (cp < 0x80) {
                d[o++] = (char)cp;
            } else if (cp < 0x800) {
                d[o++] = (char)(0xC0 | (cp >> 6));
                d[o++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                d[o++] = (char)(0xE0 | (cp >> 12));
                d[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                d[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                d[o++] = (char)(0xF0 | (cp >> 18));
                d[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                d[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                d[o++] = (char)(0x80 | (cp & 0x3F));
            }
        }
    }
    d[o] = '\0';
    *out = d;
    *out_n = o;
    return HEARTH_OK;
}

static const char *const OPS2[] = {"//", "**", "==", "!=", "<=", ">="};
static const char OPS1[] = "+-*/%~<>=()[]{}.,:|";

/* Lexes the inside of a `{{`/`{%` tag up to its end delimiter. `var` says
 * which end to look for. On return L->pos is just after the end delimiter
 * and *sign holds '-', '+' or 0. */
static hearth_status lex_tag(lexer *L, bool var, int start_line, char *sign) {
    int depth = 0;
    char stack[JINJA_MAX_NEST];
    const char *s = L->s;
    size_t n = L->n;
    while (1) {
        while (L->pos < n && is_ws(s[L->pos])) {
            if (s[L->pos] == '\n') L->line++;
            L->pos++;
        }
        size_t p = L->pos;
        if (p >= n)
            return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected '%s' to close the tag opened on line %d",
                                    L->line, var ? "}}" : "%}", start_line);
        char e = var ? '}' : '%';
        if (depth == 0) {
            if ((s[p] == '-' || s[p] == '+') && p + 2 < n && s[p + 1] == e && s[p + 2] == '}' &&
                !(var && s[p] == '+')) {
                *sign = s[p];
                L->pos = p + 3;
                return HEARTH_OK;
            }
            if (p + 1 < n && s[p] == e && s[p + 1] == '}') {
                *sign = 0;
                L->pos = p + 2;
                return HEARTH_OK;
            }
        }
        char c = s[p];
        int line = L->line;
        hearth_status st;
        if (isalpha((unsigned char)c) || c == '_') {
            size_t q = p;
            while (q < n && (isalnum((unsigned char)s[q]) || s[q] == '_')) q++;
            st = push(L, JT_NAME, line, s + p, q - p);
            L->pos = q;
        } else if (isdigit((unsigned char)c)) {
            size_t q = p;
            bool is_float = false;
            while (q < n && (isdigit((unsigned char)s[q]) || (s[q] == '_' && q + 1 < n && isdigit((unsigned char)s[q + 1])))) q++;
            bool after_dot = p > 0 && s[p - 1] == '.';
            if (!after_dot && q + 1 < n && s[q] == '.' && isdigit((unsigned char)s[q + 1])) {
                is_float = true;
                q++;
                while (q < n && (isdigit((unsigned char)s[q]) || (s[q] == '_' && q + 1 < n && isdigit((unsigned char)s[q + 1])))) q++;
            }
            if (!after_dot && q < n && (s[q] == 'e' || s[q] == 'E')) {
                size_t r = q + 1;
                if (r < n && (s[r] == '+' || s[r] == '-')) r++;
                if (r < n && isdigit((unsigned char)s[r])) {
                    is_float = true;
                    while (r < n && isdigit((unsigned char)s[r])) r++;
                    q = r;
                }
            }
            char tmp[128];
            size_t k = 0;
            for (size_t i = p; i < q && k < sizeof tmp - 1; i++)
                if (s[i] != '_') tmp[k++] = s[i];
            tmp[k] = '\0';
            if (q - p >= sizeof tmp - 1)
                return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected a shorter number", line);
            st = push(L, is_float ? JT_FLOAT : JT_INT, line, s + p, q - p);
            if (st == HEARTH_OK) {
                jtok *tk = &L->out->v[L->out->n - 1];
                if (is_float) {
                    tk->f = strtod(tmp, NULL);
                } else {
                    int64_t v = 0;
                    for (size_t i = 0; tmp[i]; i++) {
                        if (v > (INT64_MAX - 9) / 10)
                            return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: integer literal too large", line);
                        v = v * 10 + (tmp[i] - '0');
                    }
                    tk->i = v;
                }
            }
            L->pos = q;
        } else if (c == '\'' || c == '"') {
            size_t q = p + 1;
            while (q < n && s[q] != c) {
                if (s[q] == '\\' && q + 1 < n) q++;
                q++;
            }
            if (q >= n)
                return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected the end of the string literal", line);
            const char *dp = NULL;
            size_t dn = 0;
            st = decode_string(L, s + p + 1, q - p - 1, line, &dp, &dn);
            if (st == HEARTH_OK) st = push(L, JT_STRING, line, dp, dn);
            L->line += count_lines(s + p, q - p);
            L->pos = q + 1;
        } else {
            size_t len = 0;
            for (size_t i = 0; i < sizeof OPS2 / sizeof OPS2[0]; i++)
                if (p + 1 < n && s[p] == OPS2[i][0] && s[p + 1] == OPS2[i][1]) len = 2;
            if (!len && strchr(OPS1, c) && c) len = 1;
            if (!len)
                return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected an expression, got character '%c'",
                                        line, isprint((unsigned char)c) ? c : '?');
            if (len == 1 && (c == '(' || c == '[' || c == '{')) {
                if (depth >= JINJA_MAX_NEST)
                    return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected at most %d nested brackets", line,
                                            JINJA_MAX_NEST);
                stack[depth++] = c;
            } else if (len == 1 && (c == ')' || c == ']' || c == '}')) {
                char want = c == ')' ? '(' : c == ']' ? '[' : '{';
                if (depth == 0 || stack[depth - 1] != want)
                    return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: unexpected '%c'", line, c);
                depth--;
            }
            st = push(L, JT_OP, line, s + p, len);
            L->pos = p + len;
        }
        if (st != HEARTH_OK) return st;
    }
}

/* Skips what an end delimiter consumes after itself: all whitespace after a
 * '-' sign, one newline after a block/comment end (trim_blocks). Returns
 * whether the consumed text ended with a newline (Jinja's line_starting). */
static bool after_end(lexer *L, char sign, bool block_like, bool ended_nl_default) {
    bool nl = ended_nl_default;
    if (sign == '-') {
        while (L->pos < L->n && is_ws(L->s[L->pos])) {
            nl = L->s[L->pos] == '\n';
            if (nl) L->line++;
            L->pos++;
        }
    } else if (sign != '+' && block_like && L->pos < L->n && L->s[L->pos] == '\n') {
        L->line++;
        L->pos++;
        nl = true;
    }
    return nl;
}

/* Finds `{% endraw %}` (with optional -/+ markers) from L->pos. Returns the
 * offset of its `{` and sets *end past it and *sign_in/out; false if absent. */
static bool find_endraw(lexer *L, size_t *at, size_t *end, char *sign_in, char *sign_out) {
    const char *s = L->s;
    size_t n = L->n;
    for (size_t i = L->pos; i + 1 < n; i++) {
        if (s[i] != '{' || s[i + 1] != '%') continue;
        size_t q = i + 2;
        char si = 0;
        if (q < n && (s[q] == '-' || s[q] == '+')) si = s[q++];
        while (q < n && is_ws(s[q])) q++;
        if (q + 6 > n || memcmp(s + q, "endraw", 6) != 0) continue;
        q += 6;
        while (q < n && is_ws(s[q])) q++;
        char so = 0;
        if (q < n && (s[q] == '-' || s[q] == '+')) so = s[q++];
        if (q + 1 < n && s[q] == '%' && s[q + 1] == '}') {
            *at = i;
            *end = q + 2;
            *sign_in = si;
            *sign_out = so;
            return true;
        }
    }
    return false;
}

/* Tokenises the whole template. */
hearth_status jinja_lex(jarena *a, const char *src, size_t len, jtoks *out) {
    lexer L = {a, src, len, 0, 1, out};
    bool line_starting = true;
    hearth_status st;
    while (L.pos < len) {
        size_t i = L.pos;
        size_t tag = len;
        for (; i + 1 < len; i++)
            if (src[i] == '{' && (src[i + 1] == '{' || src[i + 1] == '%' || src[i + 1] == '#')) {
                tag = i;
                break;
            }
        if (tag == len) {
            st = emit_text(&L, L.pos, len, 0, false, line_starting);
            if (st != HEARTH_OK) return st;
            L.pos = len;
            break;
        }
        char kind = src[tag + 1];
        char sign = (tag + 2 < len && (src[tag + 2] == '-' || src[tag + 2] == '+')) ? src[tag + 2] : 0;
        if (kind == '{' && sign == '+') sign = 0; /* `{{+` is not a marker */
        st = emit_text(&L, L.pos, tag, sign, kind != '{', line_starting);
        if (st != HEARTH_OK) return st;
        int start_line = L.line;
        L.pos = tag + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            size_t q = L.pos;
            while (q + 1 < len && !(src[q] == '#' && src[q + 1] == '}')) q++;
            if (q + 1 >= len)
                return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected '#}' to close the comment",
                                        start_line);
            char es = (q > L.pos && (src[q - 1] == '-' || src[q - 1] == '+')) ? src[q - 1] : 0;
            L.line += count_lines(src + L.pos, q - L.pos);
            L.pos = q + 2;
            line_starting = after_end(&L, es, true, false);
            continue;
        }
        bool var = kind == '{';
        size_t first = out->n;
        st = push(&L, var ? JT_VAR_BEGIN : JT_BLOCK_BEGIN, start_line, src + tag, 2);
        if (st != HEARTH_OK) return st;
        char es = 0;
        st = lex_tag(&L, var, start_line, &es);
        if (st != HEARTH_OK) return st;
        st = push(&L, var ? JT_VAR_END : JT_BLOCK_END, L.line, src + L.pos - 2, 2);
        if (st != HEARTH_OK) return st;
        line_starting = after_end(&L, es, !var, false);
        /* {% raw %}: everything up to {% endraw %} is text. */
        if (!var && out->n == first + 3 && out->v[first + 1].kind == JT_NAME &&
            out->v[first + 1].n == 3 && memcmp(out->v[first + 1].p, "raw", 3) == 0) {
            out->n = first;
            size_t at, end;
            char si, so;
            if (!find_endraw(&L, &at, &end, &si, &so))
                return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected 'endraw' to close the raw block",
                                        start_line);
            st = emit_text(&L, L.pos, at, si, true, line_starting);
            if (st != HEARTH_OK) return st;
            L.line += count_lines(src + at, end - at);
            L.pos = end;
            line_starting = after_end(&L, so, true, false);
        }
    }
    return push(&L, JT_EOF, L.line, src + len, 0);
}
