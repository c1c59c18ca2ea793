/* constraint.c - constrained decoding: the byte-level pushdown automaton
 * for the compiled JSON grammar (json_schema.c), the vocabulary index and
 * the per-step token mask.
 *
 * Runtime model. A thread is a stack of 16-byte frames, one per open value
 * (the document, an object, its key, a string, ...). A state is a small
 * deduplicated set of threads: a union pushes one thread per alternative
 * and the ones a byte cannot extend die. JSON values are self-delimiting
 * except numbers (and literal sets like enum [1, 12]), which end when the
 * next byte cannot extend them; that byte then goes to the parent. Every
 * push checks the node's mindepth against the frame budget, so any live
 * thread can always be finished: the mask never leads into a dead end.
 *
 * Masking. All token pieces go into a byte trie (preorder arrays with
 * subtree-end skips), built once per constraint. A mask walks the trie
 * depth-first, feeding each byte to the state of its parent node and
 * skipping whole subtrees the moment the state dies. Inside a string the
 * walk would visit nearly the whole vocabulary, so tokens that are "plain"
 * string content (stay inside the string, end on a character boundary) are
 * allowed by a precomputed character count instead, and only the remaining
 * tokens are walked, in a second, smaller trie.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/constraint_internal.h"
#include "hearth/alloc.h"

/* ---- runtime data ------------------------------------------------------- */

typedef struct hc_frame {
    uint16_t node;
    uint8_t phase;
    uint8_t x;   /* whitespace run; UTF-8 bytes still due; hex digits seen */
    uint16_t y;  /* literal position; UTF-8 next-byte range; hex value */
    uint16_t pad;
    uint32_t a;  /* item / char count, next property, literal range start */
    uint32_t b;  /* current property, literal range end */
} hc_frame;

_Static_assert(sizeof(hc_frame) == 16, "frame layout");

typedef struct hc_thread {
    uint32_t depth;
    hc_frame f[HC_MAX_FRAMES];
} hc_thread;

/* A set of threads packed as [header frame (a = depth), frames...]. Threads
 * that do not fit are dropped: the rest stay valid, so masks stay sound, but
 * an anyOf with more than TSET_MAX_THREADS alternatives that share a prefix
 * only offers the first ones. 4 KB per set; a state keeps one per trie
 * depth (129 for 128-byte pieces: about 0.5 MB). */
#define TSET_FRAMES 255
#define TSET_MAX_THREADS 32
typedef struct hc_tset {
    uint32_t n, used;
    hc_frame buf[TSET_FRAMES];
} hc_tset;

typedef struct hc_trie {
    uint32_t n;       /* nodes, in preorder */
    uint8_t *byte;    /* [n] */
    uint32_t *end;    /* [n] index after the node's subtree */
    uint32_t *tok_lo; /* [n + 1] tokens ending at node i: ids[tok_lo[i] .. tok_lo[i + 1]) */
    int32_t *ids;
} hc_trie;

enum { CLS_NEVER = 0, CLS_TRIE = 1, CLS_EOG = 2 };

struct hearth_constraint {
    const hearth_vocab *v;
    hc_grammar g;
    int32_t n_tok;
    uint8_t *cls;      /* [n_tok] */
    uint32_t *poff;    /* [n_tok] piece offset in pbytes */
    uint16_t *plen;    /* [n_tok] */
    uint8_t *pbytes;
    hc_trie full, rest; /* all pieces; pieces that are not plain string content */
    int32_t *plain;     /* plain string tokens, by character count */
    uint16_t *plain_nc;
    uint32_t n_plain;
    uint32_t maxlen;    /* longest piece */
    uint64_t *plain_bits; /* [n_tok / 64 + 1] all plain tokens */
    int32_t *eog;       /* end-of-generation ids */
    uint32_t n_eog;
};

struct hearth_constraint_state {
    const hearth_constraint *c;
    bool done; /* an end-of-generation token was accepted */
    hc_tset cur;
    uint64_t *allowed; /* [n_tok / 64 + 1] scratch bitmask */
    hc_tset *lv;       /* [maxlen + 2] walk scratch, one state per trie depth */
    uint32_t *pend;    /* [maxlen + 2] */
};

/* ---- phases --------------------------------------------------------------- */

enum { D_START = 0, D_AFTER };
enum { P_OPEN = 0, P_FIRST, P_AFTER_KEY, P_AFTER_COLON, P_AFTER_VALUE, P_AFTER_COMMA, P_KEYLIT };
enum { S_OPEN = 0, S_BODY, S_ESC, S_HEX, S_UTF8 };
enum { N_START = 0, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

enum { R_REJECT = 0, R_ACCEPT, R_POP_ACCEPT, R_POP, R_PUSH, R_PUSH_KEY };

/* Whitespace between tokens: nothing, one space, or a newline followed by
 * up to 20 spaces/tabs (x: 0 none, 1 space, 2 + k newline and k indent).
 * Returns 1 when c was taken as whitespace, -1 when it is whitespace that is
 * not allowed here, 0 when it is not whitespace. */
static int ws_step(hc_frame *f, uint8_t c) {
    if (c == ' ') {
        if (f->x == 0) {
            f->x = 1;
            return 1;
        }
        if (f->x >= 2 && f->x < 22) {
            f->x++;
            return 1;
        }
        return -1;
    }
    if (c == '\n') {
        if (f->x == 0) {
            f->x = 2;
            return 1;
        }
        return -1;
    }
    if (c == '\t') {
        if (f->x >= 2 && f->x < 22) {
            f->x++;
            return 1;
        }
        return -1;
    }
    return 0;
}

static void set_phase(hc_frame *f, uint8_t phase) {
    f->phase = phase;
    f->x = 0;
}

/* One byte of string content or its closing quote. Returns R_ACCEPT,
 * R_POP_ACCEPT (closing quote) or R_REJECT. Also classifies plain tokens. */
static int str_step(hc_frame *f, uint8_t c, uint32_t min, uint32_t max) {
    switch (f->phase) {
    case S_OPEN:
        if (c != '"') return R_REJECT;
        f->phase = S_BODY;
        f->a = 0;
        return R_ACCEPT;
    case S_BODY:
        if (c == '"') return f->a >= min ? R_POP_ACCEPT : R_REJECT;
        if (f->a >= max) return R_REJECT;
        if (c == '\\') {
            f->a++;
            f->phase = S_ESC;
            return R_ACCEPT;
        }
        if (c < 0x20) return R_REJECT;
        if (c < 0x80) {
            f->a++;
            return R_ACCEPT;
        }
        {
            uint8_t need, lo = 0x80, hi = 0xBF;
            if (c >= 0xC2 && c <= 0xDF) need = 1;
            else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                if (c == 0xE0) lo = 0xA0;
                if (c == 0xED) hi = 0x9F; /* no surrogates */
            } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                if (c == 0xF0) lo = 0x90;
                if (c == 0xF4) hi = 0x8F;
            } else return R_REJECT;
            f->a++;
            f->phase = S_UTF8;
            f->x = need;
            f->y = (uint16_t)(lo | (hi << 8));
        }
        return R_ACCEPT;
    case S_UTF8:
        if (c < (f->y & 0xFF) || c > (f->y >> 8)) return R_REJECT;
        if (--f->x == 0) {
            f->phase = S_BODY;
            f->y = 0;
        } else f->y = 0x80 | (0xBF << 8);
        return R_ACCEPT;
    case S_ESC:
        if (c == 'u') {
            f->phase = S_HEX;
            f->x = 0;
            f->y = 0;
            return R_ACCEPT;
        }
        if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
            f->phase = S_BODY;
            return R_ACCEPT;
        }
        return R_REJECT;
    case S_HEX: {
        int h;
        if (c >= '0' && c <= '9') h = c - '0';
        else if (c >= 'a' && c <= 'f') h = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') h = c - 'A' + 10;
        else return R_REJECT;
        if (f->x == 1 && f->y == 0xD && h >= 8) return R_REJECT; /* a lone surrogate escape */
        f->y = (uint16_t)(f->y * 16 + h);
        if (++f->x == 4) {
            if (f->y == 0) return R_REJECT; /* \u0000: jansson refuses NUL */
            f->phase = S_BODY;
            f->x = 0;
            f->y = 0;
        }
        return R_ACCEPT;
    }
    }
    return R_REJECT;
}

static int num_step(hc_frame *f, uint8_t c, bool integer) {
    bool digit = c >= '0' && c <= '9';
    switch (f->phase) {
    case N_START:
        if (c == '-') {
            f->phase = N_MINUS;
            return R_ACCEPT;
        }
        /* fall through */
    case N_MINUS:
        if (c == '0') f->phase = N_ZERO;
        else if (digit) {
            f->phase = N_INT;
            f->a = 1;
        } else return R_REJECT;
        return R_ACCEPT;
    case N_INT:
        if (digit) {
            if (f->a >= HC_INT_DIGITS) return R_REJECT;
            f->a++;
            return R_ACCEPT;
        }
        /* fall through */
    case N_ZERO:
        if (!integer && c == '.') {
            f->phase = N_DOT;
            return R_ACCEPT;
        }
        if (!integer && (c == 'e' || c == 'E')) {
            f->phase = N_E;
            return R_ACCEPT;
        }
        return digit ? R_REJECT : R_POP;
    case N_DOT:
        if (!digit) return R_REJECT;
        f->phase = N_FRAC;
        f->a = 1;
        return R_ACCEPT;
    case N_FRAC:
        if (digit) {
            if (f->a >= HC_FRAC_DIGITS) return R_REJECT;
            f->a++;
            return R_ACCEPT;
        }
        if (c == 'e' || c == 'E') {
            f->phase = N_E;
            return R_ACCEPT;
        }
        return R_POP;
    case N_E:
        if (c == '+' || c == '-') {
            f->phase = N_ESIGN;
            return R_ACCEPT;
        }
        /* fall through */
    case N_ESIGN:
        if (!digit) return R_REJECT;
        f->phase = N_EXP;
        f->a = 1;
        return R_ACCEPT;
    case N_EXP:
        if (digit) {
            if (f->a >= HC_EXP_DIGITS) return R_REJECT;
            f->a++;
            return R_ACCEPT;
        }
        return R_POP;
    }
    return R_REJECT;
}

/* Narrows the literal range [*lo, *hi) (entries sharing a prefix of `pos`
 * bytes, sorted) to those whose byte at `pos` is c. */
static void lit_narrow(const hc_grammar *g, uint32_t *lo, uint32_t *hi, uint32_t pos, uint8_t c) {
    uint32_t l = *lo, h = *hi;
    /* first entry whose byte at pos is >= c (shorter entries sort first) */
    while (l < h) {
        uint32_t m = l + (h - l) / 2;
        const hc_lit *e = &g->lits[m];
        if (e->len <= pos || g->bytes[e->off + pos] < c) l = m + 1;
        else h = m;
    }
    uint32_t first = l;
    h = *hi;
    while (l < h) {
        uint32_t m = l + (h - l) / 2;
        const hc_lit *e = &g->lits[m];
        if (g->bytes[e->off + pos] <= c) l = m + 1;
        else h = m;
    }
    *lo = first;
    *hi = l;
}

static uint8_t md(const hc_grammar *g, uint32_t node) { return g->nodes[node].mindepth; }

/* First required property index >= a in object n (count when none). */
static uint32_t next_req(const hc_grammar *g, const hc_node *n, uint32_t a) {
    return a < n->b ? g->props[n->a + a].next_req : n->b;
}

/* Whether property `i` of object `n` (frame at index d, next eligible a)
 * may come next: inside the window up to the next required property, and
 * its value fits in the frames left. */
static bool prop_eligible(const hc_grammar *g, const hc_node *n, uint32_t a, uint32_t d, uint32_t i) {
    uint32_t nr = next_req(g, n, a);
    if (i < a || i >= n->b || (nr < n->b && i > nr)) return false;
    const hc_prop *p = &g->props[n->a + i];
    return p->required || d + 1 + md(g, p->value) <= HC_MAX_FRAMES;
}

static bool obj_any_eligible(const hc_grammar *g, const hc_node *n, uint32_t a, uint32_t d) {
    if (a >= n->b) return false;
    if (next_req(g, n, a) < n->b) return true;
    for (uint32_t i = a; i < n->b; i++)
        if (prop_eligible(g, n, a, d, i)) return true;
    return false;
}

static void tset_add(hc_tset *s, const hc_thread *t);
static void push_value(const hc_grammar *g, hc_thread *t, uint32_t node, uint8_t c, hc_tset *out);

/* Feeds byte c to thread t (modified in place) and adds the resulting
 * threads to out. Never allocates; recursion is bounded (a fresh frame
 * never pushes on its first byte). */
static void feed(const hc_grammar *g, hc_thread *t, uint8_t c, hc_tset *out) {
    for (;;) {
        if (t->depth == 0) return;
        uint32_t d = t->depth - 1;
        hc_frame *f = &t->f[d];
        const hc_node *n = &g->nodes[f->node];
        int r = R_REJECT, w;
        uint32_t child = 0;
        switch (n->kind) {
        case HC_DOC:
            if (f->phase != D_START) return;
            w = ws_step(f, c);
            if (w) {
                r = w > 0 ? R_ACCEPT : R_REJECT;
                break;
            }
            set_phase(f, D_AFTER);
            child = n->a;
            r = R_PUSH;
            break;
        case HC_OBJ:
            if (f->phase == P_KEYLIT) {
                const hc_frame *pf = &t->f[d - 1];
                uint32_t lo = f->a, hi = f->b, pos = f->y;
                lit_narrow(g, &lo, &hi, pos, c);
                bool any = false;
                for (uint32_t i = lo; i < hi && !any; i++)
                    any = prop_eligible(g, n, pf->a, d - 1, g->lits[i].tag);
                if (!any) break;
                pos++;
                if (g->lits[lo].len == pos) {
                    t->f[d - 1].b = g->lits[lo].tag;
                    r = R_POP_ACCEPT;
                    break;
                }
                f->a = lo;
                f->b = hi;
                f->y = (uint16_t)pos;
                r = R_ACCEPT;
                break;
            }
            /* fall through */
        case HC_MAP: {
            bool obj = n->kind == HC_OBJ;
            uint32_t val = obj ? 0 : n->b;
            switch (f->phase) {
            case P_OPEN:
                if (c == '{') {
                    set_phase(f, P_FIRST);
                    r = R_ACCEPT;
                }
                break;
            case P_FIRST:
            case P_AFTER_COMMA:
                if ((w = ws_step(f, c))) {
                    r = w > 0 ? R_ACCEPT : R_REJECT;
                } else if (c == '}' && f->phase == P_FIRST) {
                    if (!obj || next_req(g, n, f->a) == n->b) r = R_POP_ACCEPT;
                } else if (c == '"') {
                    if (obj ? obj_any_eligible(g, n, f->a, d) : d + 1 + md(g, val) <= HC_MAX_FRAMES) {
                        set_phase(f, P_AFTER_KEY);
                        child = n->a; /* MAP: the key string node */
                        r = obj ? R_PUSH_KEY : R_PUSH;
                    }
                }
                break;
            case P_AFTER_KEY:
                if ((w = ws_step(f, c))) r = w > 0 ? R_ACCEPT : R_REJECT;
                else if (c == ':') {
                    set_phase(f, P_AFTER_COLON);
                    r = R_ACCEPT;
                }
                break;
            case P_AFTER_COLON:
                if ((w = ws_step(f, c))) {
                    r = w > 0 ? R_ACCEPT : R_REJECT;
                    break;
                }
                set_phase(f, P_AFTER_VALUE);
                if (obj) {
                    child = g->props[n->a + f->b].value;
                    f->a = f->b + 1;
                } else child = val;
                r = R_PUSH;
                break;
            case P_AFTER_VALUE:
                if ((w = ws_step(f, c))) r = w > 0 ? R_ACCEPT : R_REJECT;
                else if (c == ',') {
                    if (obj ? obj_any_eligible(g, n, f->a, d) : d + 1 + md(g, val) <= HC_MAX_FRAMES) {
                        set_phase(f, P_AFTER_COMMA);
                        r = R_ACCEPT;
                    }
                } else if (c == '}') {
                    if (!obj || next_req(g, n, f->a) == n->b) r = R_POP_ACCEPT;
                }
                break;
            }
            break;
        }
        case HC_ARR: {
            bool can_add = f->a < n->c && (f->a < n->b || d + 1 + md(g, n->a) <= HC_MAX_FRAMES);
            switch (f->phase) {
            case P_OPEN:
                if (c == '[') {
                    set_phase(f, P_FIRST);
                    r = R_ACCEPT;
                }
                break;
            case P_FIRST:
            case P_AFTER_COMMA:
                if ((w = ws_step(f, c))) {
                    r = w > 0 ? R_ACCEPT : R_REJECT;
                } else if (c == ']' && f->phase == P_FIRST) {
                    if (f->a >= n->b) r = R_POP_ACCEPT;
                } else if (can_add) {
                    set_phase(f, P_AFTER_VALUE);
                    f->a++;
                    child = n->a;
                    r = R_PUSH;
                }
                break;
            case P_AFTER_VALUE:
                if ((w = ws_step(f, c))) r = w > 0 ? R_ACCEPT : R_REJECT;
                else if (c == ',') {
                    if (can_add) {
                        set_phase(f, P_AFTER_COMMA);
                        r = R_ACCEPT;
                    }
                } else if (c == ']') {
                    if (f->a >= n->b) r = R_POP_ACCEPT;
                }
                break;
            }
            break;
        }
        case HC_STR: r = str_step(f, c, n->b, n->c); break;
        case HC_NUM:
        case HC_INT: r = num_step(f, c, n->kind == HC_INT); break;
        case HC_LIT: {
            uint32_t lo = f->a, hi = f->b, pos = f->y;
            lit_narrow(g, &lo, &hi, pos, c);
            if (lo == hi) {
                r = g->lits[f->a].len == pos ? R_POP : R_REJECT;
                break;
            }
            pos++;
            if (hi - lo == 1 && g->lits[lo].len == pos) {
                r = R_POP_ACCEPT;
                break;
            }
            f->a = lo;
            f->b = hi;
            f->y = (uint16_t)pos;
            r = R_ACCEPT;
            break;
        }
        default: break;
        }
        switch (r) {
        case R_ACCEPT: tset_add(out, t); return;
        case R_POP_ACCEPT:
            t->depth--;
            tset_add(out, t);
            return;
        case R_POP: t->depth--; continue;
        case R_PUSH: push_value(g, t, child, c, out); return;
        case R_PUSH_KEY: {
            if (t->depth >= HC_MAX_FRAMES) return;
            hc_frame *k = &t->f[t->depth++];
            memset(k, 0, sizeof(*k));
            k->node = f->node;
            k->phase = P_KEYLIT;
            k->a = n->c;
            k->b = n->c + n->b;
            continue; /* the key frame takes the quote */
        }
        default: return;
        }
    }
}

/* Pushes a frame for `node` (one thread per alternative for a union,
 * only those that fit in the frame budget) and feeds c to it. */
static void push_value(const hc_grammar *g, hc_thread *t, uint32_t node, uint8_t c, hc_tset *out) {
    const hc_node *n = &g->nodes[node];
    if (n->kind == HC_UNION) {
        hc_thread saved;
        saved.depth = t->depth;
        memcpy(saved.f, t->f, t->depth * sizeof(hc_frame));
        for (uint32_t i = 0; i < n->b; i++) {
            uint32_t alt = g->alts[n->a + i];
            if (saved.depth + md(g, alt) > HC_MAX_FRAMES) continue;
            t->depth = saved.depth;
            memcpy(t->f, saved.f, saved.depth * sizeof(hc_frame));
            push_value(g, t, alt, c, out); /* alternatives are never unions */
        }
        return;
    }
    if (n->kind == HC_EMPTY || n->kind == HC_UNION || t->depth + md(g, node) > HC_MAX_FRAMES) return;
    hc_frame *f = &t->f[t->depth++];
    memset(f, 0, sizeof(*f));
    f->node = (uint16_t)node;
    if (n->kind == HC_LIT) {
        f->a = n->a;
        f->b = n->a + n->b;
    }
    feed(g, t, c, out);
}

/* ---- thread sets ------------------------------------------------------------- */

static void tset_clear(hc_tset *s) { s->n = s->used = 0; }

/* Adds a copy of t unless an identical thread is present or it does not fit. */
static void tset_add(hc_tset *s, const hc_thread *t) {
    uint32_t off = 0;
    size_t bytes = t->depth * sizeof(hc_frame);
    for (uint32_t k = 0; k < s->n; k++) {
        uint32_t dk = s->buf[off].a;
        if (dk == t->depth && memcmp(&s->buf[off + 1], t->f, bytes) == 0) return;
        off += 1 + dk;
    }
    if (s->n >= TSET_MAX_THREADS || s->used + 1 + t->depth > TSET_FRAMES) return;
    hc_frame *h = &s->buf[s->used];
    memset(h, 0, sizeof(*h));
    h->a = t->depth;
    memcpy(h + 1, t->f, bytes);
    s->used += 1 + t->depth;
    s->n++;
}

static void thread_load(hc_thread *t, const hc_frame *h) {
    t->depth = h->a;
    memcpy(t->f, h + 1, t->depth * sizeof(hc_frame));
}

/* dst = every thread of src after byte c. */
static void tset_feed(const hc_grammar *g, const hc_tset *src, uint8_t c, hc_tset *dst) {
    hc_thread t;
    tset_clear(dst);
    for (uint32_t k = 0, off = 0; k < src->n; k++) {
        thread_load(&t, &src->buf[off]);
        off += 1 + src->buf[off].a;
        feed(g, &t, c, dst);
    }
}

static bool frame_can_end(const hc_grammar *g, const hc_frame *f) {
    const hc_node *n = &g->nodes[f->node];
    switch (n->kind) {
    case HC_DOC: return f->phase == D_AFTER;
    case HC_NUM:
    case HC_INT: return f->phase == N_ZERO || f->phase == N_INT || f->phase == N_FRAC || f->phase == N_EXP;
    case HC_LIT: return g->lits[f->a].len == f->y;
    default: return false;
    }
}

/* True when some thread is a complete document. */
static bool tset_complete(const hc_grammar *g, const hc_tset *s) {
    for (uint32_t k = 0, off = 0; k < s->n; k++) {
        uint32_t dk = s->buf[off].a;
        bool ok = dk > 0;
        for (uint32_t i = 0; i < dk && ok; i++) ok = frame_can_end(g, &s->buf[off + 1 + i]);
        if (ok) return true;
        off += 1 + dk;
    }
    return false;
}

/* ---- vocabulary index ---------------------------------------------------------- */

typedef struct piece_ref {
    const uint8_t *p;
    uint32_t len;
    int32_t id;
} piece_ref;

/* Byte d of a piece, -1 past its end (so a prefix sorts first). */
static int piece_ch(const piece_ref *r, uint32_t d) { return d < r->len ? r->p[d] : -1; }

static int piece_cmp_from(const piece_ref *x, const piece_ref *y, uint32_t d) {
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = n > d ? memcmp(x->p + d, y->p + d, n - d) : 0;
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

static void piece_swap(piece_ref *a, size_t i, size_t j) {
    piece_ref t = a[i];
    a[i] = a[j];
    a[j] = t;
}

/* Sorts pieces bytewise, all sharing their first d bytes: multikey
 * quicksort (three-way partition on byte d), several times faster than
 * qsort with memcmp on a 150k vocabulary. Recursion: the equal part goes one
 * byte deeper (at most a piece length), the smaller side recurses and the
 * larger loops, so the stack stays shallow. */
static void piece_sort(piece_ref *a, size_t n, uint32_t d) {
    while (n > 1) {
        if (n < 12) {
            for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && piece_cmp_from(&a[j - 1], &a[j], d) > 0; j--) piece_swap(a, j, j - 1);
            return;
        }
        int x = piece_ch(&a[0], d), y = piece_ch(&a[n / 2], d), z = piece_ch(&a[n - 1], d);
        int pv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t lt = 0, i = 0, gt = n;
        while (i < gt) {
            int c = piece_ch(&a[i], d);
            if (c < pv) piece_swap(a, lt++, i++);
            else if (c > pv) piece_swap(a, i, --gt);
            else i++;
        }
        if (pv >= 0) piece_sort(a + lt, gt - lt, d + 1);
        if (lt < n - gt) {
            piece_sort(a, lt, d);
            a += gt;
            n -= gt;
        } else {
            piece_sort(a + gt, n - gt, d);
            n = lt;
        }
    }
}

static void trie_free(hc_trie *t) {
    hearth_free(t->byte);
    hearth_free(t->end);
    hearth_free(t->tok_lo);
    hearth_free(t->ids);
    memset(t, 0, sizeof(*t));
}

/* Builds a trie in preorder from pieces sorted bytewise (keep[i] selects
 * which go in; NULL: all). Each new piece shares its longest common prefix
 * with the previous one, so nodes are appended in preorder and a node's
 * subtree ends where the next piece diverges above it. */
static hearth_status trie_build(hc_trie *t, const piece_ref *s, uint32_t n, const uint8_t *keep) {
    size_t cap = 1, nt = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!keep || keep[i]) {
            cap += s[i].len;
            nt++;
        }
    t->byte = hearth_malloc(cap);
    t->end = hearth_malloc(cap * sizeof(uint32_t));
    t->tok_lo = hearth_malloc((cap + 1) * sizeof(uint32_t));
    t->ids = hearth_malloc((nt ? nt : 1) * sizeof(int32_t));
    if (!t->byte || !t->end || !t->tok_lo || !t->ids) return hearth_error_set(HEARTH_ERR_NOMEM, "constraint trie");
    uint32_t path[512];
    uint32_t prev_len = 0, nodes = 0, toks = 0;
    const piece_ref *prev = NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (keep && !keep[i]) continue;
        const piece_ref *p = &s[i];
        uint32_t l = 0;
        if (prev)
            while (l < prev->len && l < p->len && prev->p[l] == p->p[l]) l++;
        for (uint32_t j = prev_len; j-- > l;) t->end[path[j]] = nodes;
        for (uint32_t j = l; j < p->len; j++) {
            t->byte[nodes] = p->p[j];
            t->tok_lo[nodes] = toks;
            path[j] = nodes++;
        }
        t->ids[toks++] = p->id;
        prev = p;
        prev_len = p->len;
    }
    for (uint32_t j = prev_len; j-- > 0;) t->end[path[j]] = nodes;
    t->tok_lo[nodes] = toks;
    t->n = nodes;
    return HEARTH_OK;
}

/* Runs a string body over a piece: returns the character count when the
 * piece keeps a string open and ends on a character boundary, else -1. */
static int plain_chars(const uint8_t *p, uint32_t len) {
    hc_frame f;
    memset(&f, 0, sizeof(f));
    f.phase = S_BODY;
    for (uint32_t i = 0; i < len; i++)
        if (str_step(&f, p[i], 0, UINT32_MAX) != R_ACCEPT) return -1;
    return f.phase == S_BODY ? (int)f.a : -1;
}

void hearth_constraint_free(hearth_constraint *c) {
    if (!c) return;
    hc_grammar_free(&c->g);
    hearth_free(c->cls);
    hearth_free(c->poff);
    hearth_free(c->plen);
    hearth_free(c->pbytes);
    trie_free(&c->full);
    trie_free(&c->rest);
    hearth_free(c->plain);
    hearth_free(c->plain_nc);
    hearth_free(c->eog);
    hearth_free(c->plain_bits);
    hearth_free(c);
}

/* Reads every token's piece and builds the tries and the plain-token list. */
static hearth_status index_vocab(hearth_constraint *c) {
    const hearth_vocab *v = c->v;
    int32_t n = c->n_tok;
    hearth_status st = HEARTH_OK;
    size_t cap = 1 << 16, used = 0;
    char buf[512];
    piece_ref *refs = NULL;
    uint8_t *keep = NULL;
    int *nc = NULL;
    c->cls = hearth_calloc((size_t)n, 1);
    c->poff = hearth_calloc((size_t)n, sizeof(uint32_t));
    c->plen = hearth_calloc((size_t)n, sizeof(uint16_t));
    c->pbytes = hearth_malloc(cap);
    if (!c->cls || !c->poff || !c->plen || !c->pbytes) return hearth_error_set(HEARTH_ERR_NOMEM, "constraint vocab");
    uint32_t n_trie = 0;
    for (int32_t id = 0; id < n; id++) {
        if (hearth_vocab_is_eog(v, id)) {
            c->cls[id] = CLS_EOG;
            c->n_eog++;
            continue;
        }
        hearth_token_type ty = hearth_vocab_token_type(v, id);
        if (ty != HEARTH_TOKEN_NORMAL && ty != HEARTH_TOKEN_BYTE && ty != HEARTH_TOKEN_UNDEFINED) continue;
        int len = hearth_token_to_piece(v, id, buf, sizeof buf, false);
        if (len == HEARTH_ERR_NOMEM) return len;
        if (len <= 0 || len > (int)sizeof buf) continue; /* empty pieces would never make progress */
        if (used + (size_t)len > cap) {
            if (cap > UINT32_MAX / 4) return hearth_error_set(HEARTH_ERR_RANGE, "vocabulary too large");
            uint8_t *q = hearth_realloc(c->pbytes, cap * 2);
            if (!q) return hearth_error_set(HEARTH_ERR_NOMEM, "constraint vocab");
            c->pbytes = q;
            cap *= 2;
        }
        memcpy(c->pbytes + used, buf, (size_t)len);
        c->poff[id] = (uint32_t)used;
        c->plen[id] = (uint16_t)len;
        used += (size_t)len;
        c->cls[id] = CLS_TRIE;
        if ((uint32_t)len > c->maxlen) c->maxlen = (uint32_t)len;
        n_trie++;
    }
    c->eog = hearth_malloc((c->n_eog ? c->n_eog : 1) * sizeof(int32_t));
    if (!c->eog) return hearth_error_set(HEARTH_ERR_NOMEM, "constraint vocab");
    for (int32_t id = 0, k = 0; id < n; id++)
        if (c->cls[id] == CLS_EOG) c->eog[k++] = id;
    refs = hearth_malloc((n_trie ? n_trie : 1) * sizeof(*refs));
    keep = hearth_malloc(n_trie ? n_trie : 1);
    nc = hearth_malloc((n_trie ? n_trie : 1) * sizeof(int));
    if (!refs || !keep || !nc) {
        st = hearth_error_set(HEARTH_ERR_NOMEM, "constraint vocab");
        goto done;
    }
    for (int32_t id = 0, k = 0; id < n; id++)
        if (c->cls[id] == CLS_TRIE) refs[k++] = (piece_ref){c->pbytes + c->poff[id], c->plen[id], id};
    piece_sort(refs, n_trie, 0);
    uint32_t counts[513] = {0};
    for (uint32_t i = 0; i < n_trie; i++) {
        nc[i] = plain_chars(refs[i].p, refs[i].len);
        keep[i] = nc[i] < 0;
        if (nc[i] >= 0) {
            counts[nc[i]]++;
            c->n_plain++;
        }
    }
    if ((st = trie_build(&c->full, refs, n_trie, NULL)) || (st = trie_build(&c->rest, refs, n_trie, keep))) goto done;
    c->plain = hearth_malloc((c->n_plain ? c->n_plain : 1) * sizeof(int32_t));
    c->plain_nc = hearth_malloc((c->n_plain ? c->n_plain : 1) * sizeof(uint16_t));
    c->plain_bits = hearth_calloc((size_t)n / 64 + 1, sizeof(uint64_t));
    if (!c->plain || !c->plain_nc || !c->plain_bits) {
        st = hearth_error_set(HEARTH_ERR_NOMEM, "constraint vocab");
        goto done;
    }
    /* counting sort by character count */
    uint32_t start[513], acc = 0;
    for (int i = 0; i <= 512; i++) {
        start[i] = acc;
        acc += counts[i];
    }
    for (uint32_t i = 0; i < n_trie; i++)
        if (nc[i] >= 0) {
            uint32_t at = start[nc[i]]++;
            c->plain[at] = refs[i].id;
            c->plain_nc[at] = (uint16_t)nc[i];
            c->plain_bits[refs[i].id >> 6] |= 1ull << (refs[i].id & 63);
        }
done:
    hearth_free(refs);
    hearth_free(keep);
    hearth_free(nc);
    return st;
}

/* See constraint.h. Blocks while it compiles and indexes (milliseconds). */
hearth_status hearth_constraint_new_json(const hearth_vocab *v, const json_t *schema, hearth_constraint **out) {
    if (!out) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_constraint_new_json: out is NULL");
    *out = NULL;
    if (!v) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_constraint_new_json: vocab is NULL");
    hearth_constraint *c = hearth_calloc(1, sizeof(*c));
    if (!c) return hearth_error_set(HEARTH_ERR_NOMEM, "constraint");
    c->v = v;
    c->n_tok = hearth_vocab_n_tokens(v);
    hearth_status st = hc_compile(schema, &c->g);
    if (!st) st = index_vocab(c);
    if (st) {
        hearth_constraint_free(c);
        return st;
    }
    *out = c;
    return HEARTH_OK;
}

/* ---- states -------------------------------------------------------------------- */

static void state_reset(hearth_constraint_state *s) {
    hc_thread t;
    memset(&t.f[0], 0, sizeof(hc_frame));
    t.depth = 1;
    t.f[0].node = (uint16_t)s->c->g.doc;
    t.f[0].phase = D_START;
    tset_clear(&s->cur);
    tset_add(&s->cur, &t);
    s->done = false;
}

/* See constraint.h. Allocates the state's scratch (a few hundred KB). */
hearth_status hearth_constraint_state_new(const hearth_constraint *c, hearth_constraint_state **out) {
    if (!out) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_constraint_state_new: out is NULL");
    *out = NULL;
    if (!c) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_constraint_state_new: constraint is NULL");
    hearth_constraint_state *s = hearth_calloc(1, sizeof(*s));
    if (!s) return hearth_error_set(HEARTH_ERR_NOMEM, "constraint state");
    s->c = c;
    s->allowed = hearth_calloc((size_t)c->n_tok / 64 + 1, sizeof(uint64_t));
    s->lv = hearth_malloc(((size_t)c->maxlen + 2) * sizeof(hc_tset));
    s->pend = hearth_malloc(((size_t)c->maxlen + 2) * sizeof(uint32_t));
    if (!s->allowed || !s->lv || !s->pend) {
        hearth_constraint_state_free(s);
        return hearth_error_set(HEARTH_ERR_NOMEM, "constraint state");
    }
    state_reset(s);
    *out = s;
    return HEARTH_OK;
}

void hearth_constraint_state_free(hearth_constraint_state *st) {
    if (!st) return;
    hearth_free(st->allowed);
    hearth_free(st->lv);
    hearth_free(st->pend);
    hearth_free(st);
}

hearth_status hc_state_copy(hearth_constraint_state *dst, const hearth_constraint_state *src) {
    if (!dst || !src || dst->c != src->c) return hearth_error_set(HEARTH_ERR_INVALID, "hc_state_copy: bad states");
    dst->done = src->done;
    dst->cur.n = src->cur.n;
    dst->cur.used = src->cur.used;
    memcpy(dst->cur.buf, src->cur.buf, src->cur.used * sizeof(hc_frame));
    return HEARTH_OK;
}

/* Marks every token of trie `tr` that state lv[0] accepts. */
static void walk(hearth_constraint_state *s, const hc_trie *tr) {
    const hc_grammar *g = &s->c->g;
    uint64_t *allowed = s->allowed;
    uint32_t i = 0, k = 0;
    while (i < tr->n) {
        while (k > 0 && i >= s->pend[k - 1]) k--;
        hc_tset *dst = &s->lv[k + 1];
        tset_feed(g, &s->lv[k], tr->byte[i], dst);
        if (dst->n == 0) {
            i = tr->end[i];
            continue;
        }
        for (uint32_t j = tr->tok_lo[i]; j < tr->tok_lo[i + 1]; j++) {
            uint32_t id = (uint32_t)tr->ids[j];
            allowed[id >> 6] |= 1ull << (id & 63);
        }
        s->pend[k] = tr->end[i];
        k++;
        i++;
    }
}

/* See constraint.h: masks logits in place. Never allocates; CPU-bound. */
void hearth_constraint_apply(hearth_constraint_state *st, float *logits, int32_t n_vocab) {
    if (!st || !logits || n_vocab <= 0) return;
    const hearth_constraint *c = st->c;
    const hc_grammar *g = &c->g;
    memset(st->allowed, 0, ((size_t)c->n_tok / 64 + 1) * sizeof(uint64_t));
    bool eog_ok = st->done;
    if (!st->done) {
        for (uint32_t k = 0, off = 0; k < st->cur.n; k++) {
            const hc_frame *h = &st->cur.buf[off];
            uint32_t dk = h->a;
            off += 1 + dk;
            hc_tset *l0 = &st->lv[0];
            tset_clear(l0);
            memcpy(l0->buf, h, (1 + dk) * sizeof(hc_frame));
            l0->n = 1;
            l0->used = 1 + dk;
            const hc_frame *top = &h[dk];
            const hc_node *tn = &g->nodes[top->node];
            if (dk > 0 && tn->kind == HC_STR && top->phase == S_BODY) {
                uint32_t room = tn->c - top->a;
                if (c->n_plain && c->plain_nc[c->n_plain - 1] <= room) {
                    for (int32_t w = 0; w <= c->n_tok / 64; w++) st->allowed[w] |= c->plain_bits[w];
                } else {
                    for (uint32_t j = 0; j < c->n_plain && c->plain_nc[j] <= room; j++) {
                        uint32_t id = (uint32_t)c->plain[j];
                        st->allowed[id >> 6] |= 1ull << (id & 63);
                    }
                }
                walk(st, &c->rest);
            } else {
                walk(st, &c->full);
            }
        }
        eog_ok = tset_complete(g, &st->cur);
    }
    if (eog_ok)
        for (uint32_t k = 0; k < c->n_eog; k++) st->allowed[c->eog[k] >> 6] |= 1ull << (c->eog[k] & 63);
    int32_t n = n_vocab < c->n_tok ? n_vocab : c->n_tok;
    for (int32_t i = n; i < n_vocab; i++) logits[i] = -INFINITY;
    /* word at a time: inside strings nearly every word is all ones */
    for (int32_t w = 0; w * 64 < n; w++) {
        uint64_t bits = st->allowed[w];
        if (bits == ~0ull) continue;
        int32_t lo = w * 64, hi = lo + 64 < n ? lo + 64 : n;
        for (int32_t i = lo; i < hi; i++)
            if (!(bits >> (i - lo) & 1)) logits[i] = -INFINITY;
    }
}

/* See constraint.h. Never allocates; the state is unchanged on error. */
hearth_status hearth_constraint_accept(hearth_constraint_state *st, int32_t token) {
    if (!st) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_constraint_accept: state is NULL");
    const hearth_constraint *c = st->c;
    if (token < 0 || token >= c->n_tok) return hearth_error_set(HEARTH_ERR_INVALID, "token %d out of range", (int)token);
    if (st->done) return hearth_error_set(HEARTH_ERR_INVALID, "constraint: token %d after end of generation", (int)token);
    if (c->cls[token] == CLS_EOG) {
        if (!tset_complete(&c->g, &st->cur))
            return hearth_error_set(HEARTH_ERR_INVALID, "constraint: end of generation before the document is complete");
        st->done = true;
        return HEARTH_OK;
    }
    if (c->cls[token] != CLS_TRIE)
        return hearth_error_set(HEARTH_ERR_INVALID, "constraint: token %d is never allowed", (int)token);
    const uint8_t *p = c->pbytes + c->poff[token];
    uint32_t len = c->plen[token];
    const hc_tset *src = &st->cur;
    for (uint32_t i = 0; i < len; i++) {
        hc_tset *dst = &st->lv[i & 1];
        tset_feed(&c->g, src, p[i], dst);
        if (dst->n == 0)
            return hearth_error_set(HEARTH_ERR_INVALID, "constraint: token %d does not continue the document", (int)token);
        src = dst;
    }
    st->cur.n = src->n;
    st->cur.used = src->used;
    memcpy(st->cur.buf, src->buf, src->used * sizeof(hc_frame));
    return HEARTH_OK;
}

/* See constraint.h. */
bool hearth_constraint_complete(const hearth_constraint_state *st) {
    if (!st) return false;
    return st->done || tset_complete(&st->c->g, &st->cur);
}
