/* jinja_eval.c - runs a parsed template.
 *
 * Scoping follows Jinja2: a for loop's body gets a fresh scope on every
 * iteration (so `set` inside a loop never leaks out; namespace() is the way
 * out), macros and call blocks get their own scope whose parent is the scope
 * they were defined in, `if` opens no scope. Every value lives in the render
 * arena. Limits (steps, iterations, depth, output, memory) turn a hostile
 * template into an error instead of a hang or a crash.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/jinja.h"
#include "hearth/alloc.h"

struct jscope {
    jscope *parent;
    const char **names;
    size_t *nlens;
    jv *vals;
    size_t n, cap;
    bool alive;
};

static hearth_status exec_body(jctx *c, const jnodes *body);

/* ---- errors and budgets ----------------------------------------------- */

hearth_status jx_fail(jctx *c, hearth_status st, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hearth_error_set(st, "line %d: %s", c->line, msg);
}

hearth_status jx_oom(jctx *c) {
    if (c->arena.over_limit)
        return jx_fail(c, HEARTH_ERR_RANGE, "template used more than %zu MB of memory", JINJA_MAX_MEMORY >> 20);
    return jx_fail(c, HEARTH_ERR_NOMEM, "out of memory while rendering");
}

hearth_status jx_charge(jctx *c, size_t n) {
    c->steps += n;
    if (c->steps > JINJA_MAX_STEPS)
        return jx_fail(c, HEARTH_ERR_RANGE, "template exceeded %u evaluation steps", JINJA_MAX_STEPS);
    return HEARTH_OK;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        hearth_status st_ = (x);                                                                   \
        if (st_ != HEARTH_OK) return st_;                                                          \
    } while (0)

/* ---- scopes ----------------------------------------------------------- */

static jscope *scope_push(jctx *c, jscope *parent) {
    jscope *s = jarena_alloc(&c->arena, sizeof(*s));
    if (!s) return NULL;
    memset(s, 0, sizeof(*s));
    s->parent = parent;
    s->alive = true;
    return s;
}

static bool scope_set(jctx *c, jscope *s, const char *name, size_t nlen, jv v) {
    for (size_t i = 0; i < s->n; i++)
        if (s->nlens[i] == nlen && memcmp(s->names[i], name, nlen) == 0) {
            s->vals[i] = v;
            return true;
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        const char **nn = jarena_alloc(&c->arena, cap * sizeof(*nn));
        size_t *nl = jarena_alloc(&c->arena, cap * sizeof(*nl));
        jv *nv = jarena_alloc(&c->arena, cap * sizeof(*nv));
        if (!nn || !nl || !nv) return false;
        if (s->n) {
            memcpy(nn, s->names, s->n * sizeof(*nn));
            memcpy(nl, s->nlens, s->n * sizeof(*nl));
            memcpy(nv, s->vals, s->n * sizeof(*nv));
        }
        s->names = nn;
        s->nlens = nl;
        s->vals = nv;
        s->cap = cap;
    }
    s->names[s->n] = name;
    s->nlens[s->n] = nlen;
    s->vals[s->n] = v;
    s->n++;
    return true;
}

static const jv *scope_get(const jscope *s, const char *name, size_t nlen) {
    for (; s; s = s->parent)
        for (size_t i = s->n; i > 0; i--)
            if (s->nlens[i - 1] == nlen && memcmp(s->names[i - 1], name, nlen) == 0) return &s->vals[i - 1];
    return NULL;
}

/* ---- helpers ---------------------------------------------------------- */

hearth_status jx_to_str(jctx *c, jv v, jv *out) {
    if (v.t == JV_STR) {
        *out = v;
        return HEARTH_OK;
    }
    jbuf b = {0};
    hearth_status st = jv_write_str(&b, v);
    if (st == HEARTH_OK) {
        char *s = jarena_strndup(&c->arena, b.p ? b.p : "", b.n);
        if (!s) st = jx_oom(c);
        else *out = jv_str(s, b.n);
    }
    jbuf_free(&b);
    return st;
}

/* Runs `body` with output redirected into an arena string. */
static hearth_status capture(jctx *c, const jnodes *body, jv *out) {
    jbuf b = {0};
    jbuf *saved = c->out;
    c->out = &b;
    hearth_status st = exec_body(c, body);
    c->out = saved;
    if (st == HEARTH_OK) {
        char *s = jarena_strndup(&c->arena, b.p ? b.p : "", b.n);
        if (!s) st = jx_oom(c);
        else *out = jv_str(s, b.n);
    }
    jbuf_free(&b);
    return st;
}

static hearth_status undefined_error(jctx *c, const jnode *n) {
    if (n && n->kind == E_NAME) return jx_fail(c, HEARTH_ERR_INVALID, "'%.*s' is undefined", (int)n->nlen, n->name);
    if (n && n->kind == E_GETATTR)
        return jx_fail(c, HEARTH_ERR_INVALID, "attribute '%.*s' is undefined", (int)n->nlen, n->name);
    return jx_fail(c, HEARTH_ERR_INVALID, "value is undefined");
}

/* ---- arithmetic ------------------------------------------------------- */

static bool as_num(jv v, int64_t *i, double *f, bool *isint) {
    if (v.t == JV_INT || v.t == JV_BOOL) {
        *i = v.t == JV_INT ? v.u.i : v.u.b;
        *f = (double)*i;
        *isint = true;
        return true;
    }
    if (v.t == JV_FLOAT) {
        *f = v.u.f;
        *isint = false;
        return true;
    }
    return false;
}

static const char *op_sym(int op) {
    static const char *s[] = {"?", "+", "-", "*", "/", "//", "%", "**"};
    return op >= OP_ADD && op <= OP_POW ? s[op] : "?";
}

static hearth_status repeat(jctx *c, jv seq, int64_t times, jv *out) {
    if (times < 0) times = 0;
    if (seq.t == JV_STR) {
        if (seq.u.s.n && (uint64_t)times > JINJA_MAX_OUTPUT / seq.u.s.n)
            return jx_fail(c, HEARTH_ERR_RANGE, "string repetition exceeds %u bytes", JINJA_MAX_OUTPUT);
        size_t n = seq.u.s.n * (size_t)times;
        TRY(jx_charge(c, n / 16));
        char *s = jarena_alloc(&c->arena, n + 1);
        if (!s) return jx_oom(c);
        for (int64_t k = 0; k < times; k++) memcpy(s + (size_t)k * seq.u.s.n, seq.u.s.p, seq.u.s.n);
        s[n] = '\0';
        *out = jv_str(s, n);
        return HEARTH_OK;
    }
    const jlist *l = seq.u.l;
    if (l->n && (uint64_t)times > JINJA_MAX_LIST / l->n)
        return jx_fail(c, HEARTH_ERR_RANGE, "list repetition exceeds %u items", JINJA_MAX_LIST);
    size_t n = l->n * (size_t)times;
    TRY(jx_charge(c, n));
    jlist *r = jlist_new(&c->arena, n);
    if (!r) return jx_oom(c);
    for (int64_t k = 0; k < times; k++)
        if (l->n) memcpy(r->v + (size_t)k * l->n, l->v, l->n * sizeof(jv));
    r->n = n;
    r->tuple = l->tuple;
    out->t = JV_LIST;
    out->u.l = r;
    return HEARTH_OK;
}

static hearth_status binop(jctx *c, int op, jv a, jv b, jv *out) {
    int64_t ia = 0, ib = 0;
    double fa = 0, fb = 0;
    bool inta = false, intb = false;
    if (a.t == JV_UNDEF || b.t == JV_UNDEF)
        return jx_fail(c, HEARTH_ERR_INVALID, "undefined value used with '%s'", op_sym(op));
    if (as_num(a, &ia, &fa, &inta) && as_num(b, &ib, &fb, &intb)) {
        bool both = inta && intb;
        int64_t r;
        switch (op) {
        case OP_ADD:
            if (!both) { *out = jv_float(fa + fb); return HEARTH_OK; }
            if (__builtin_add_overflow(ia, ib, &r)) break;
            *out = jv_int(r);
            return HEARTH_OK;
        case OP_SUB:
            if (!both) { *out = jv_float(fa - fb); return HEARTH_OK; }
            if (__builtin_sub_overflow(ia, ib, &r)) break;
            *out = jv_int(r);
            return HEARTH_OK;
        case OP_MUL:
            if (!both) { *out = jv_float(fa * fb); return HEARTH_OK; }
            if (__builtin_mul_overflow(ia, ib, &r)) break;
            *out = jv_int(r);
            return HEARTH_OK;
        case OP_DIV:
            if (fb == 0) return jx_fail(c, HEARTH_ERR_INVALID, "division by zero");
            *out = jv_float(fa / fb);
            return HEARTH_OK;
        case OP_FLOORDIV:
            if (fb == 0) return jx_fail(c, HEARTH_ERR_INVALID, "integer division or modulo by zero");
            if (both) {
                if (ia == INT64_MIN && ib == -1) break;
                int64_t q = ia / ib;
                if ((ia % ib != 0) && ((ia < 0) != (ib < 0))) q--;
                *out = jv_int(q);
            } else {
                *out = jv_float(floor(fa / fb));
            }
            return HEARTH_OK;
        case OP_MOD:
            if (fb == 0) return jx_fail(c, HEARTH_ERR_INVALID, "integer division or modulo by zero");
            if (both) {
                if (ib == -1) { *out = jv_int(0); return HEARTH_OK; }
                int64_t m = ia % ib;
                if (m != 0 && ((m < 0) != (ib < 0))) m += ib;
                *out = jv_int(m);
            } else {
                double m = fmod(fa, fb);
                if (m != 0 && ((m < 0) != (fb < 0))) m += fb;
                if (m == 0) m = copysign(0.0, fb); /* Python: a zero remainder takes the divisor's sign */
                *out = jv_float(m);
            }
            return HEARTH_OK;
        case OP_POW:
            if (both && ib >= 0) {
                int64_t acc = 1, base = ia, e = ib;
                bool ovf = false;
                while (e > 0 && !ovf) {
                    if (e & 1) ovf |= __builtin_mul_overflow(acc, base, &acc);
                    e >>= 1;
                    if (e) ovf |= __builtin_mul_overflow(base, base, &base);
                }
                if (ovf) break;
                *out = jv_int(acc);
                return HEARTH_OK;
            }
            if (fa == 0 && fb < 0) return jx_fail(c, HEARTH_ERR_INVALID, "0.0 cannot be raised to a negative power");
            *out = jv_float(pow(fa, fb));
            return HEARTH_OK;
        }
        return jx_fail(c, HEARTH_ERR_RANGE, "integer overflow in '%s'", op_sym(op));
    }
    if (op == OP_ADD && a.t == JV_STR && b.t == JV_STR) {
        size_t n = a.u.s.n + b.u.s.n;
        if (n > JINJA_MAX_OUTPUT) return jx_fail(c, HEARTH_ERR_RANGE, "string exceeds %u bytes", JINJA_MAX_OUTPUT);
        TRY(jx_charge(c, n / 16));
        char *s = jarena_alloc(&c->arena, n + 1);
        if (!s) return jx_oom(c);
        if (a.u.s.n) memcpy(s, a.u.s.p, a.u.s.n);
        if (b.u.s.n) memcpy(s + a.u.s.n, b.u.s.p, b.u.s.n);
        s[n] = '\0';
        *out = jv_str(s, n);
        return HEARTH_OK;
    }
    if (op == OP_ADD && a.t == JV_LIST && b.t == JV_LIST && a.u.l->tuple == b.u.l->tuple) {
        size_t n = a.u.l->n + b.u.l->n;
        if (n > JINJA_MAX_LIST) return jx_fail(c, HEARTH_ERR_RANGE, "list exceeds %u items", JINJA_MAX_LIST);
        TRY(jx_charge(c, n));
        jlist *l = jlist_new(&c->arena, n);
        if (!l) return jx_oom(c);
        if (a.u.l->n) memcpy(l->v, a.u.l->v, a.u.l->n * sizeof(jv));
        if (b.u.l->n) memcpy(l->v + a.u.l->n, b.u.l->v, b.u.l->n * sizeof(jv));
        l->n = n;
        l->tuple = a.u.l->tuple;
        out->t = JV_LIST;
        out->u.l = l;
        return HEARTH_OK;
    }
    if (op == OP_MUL && (a.t == JV_STR || a.t == JV_LIST) && (b.t == JV_INT || b.t == JV_BOOL))
        return repeat(c, a, b.t == JV_INT ? b.u.i : b.u.b, out);
    if (op == OP_MUL && (b.t == JV_STR || b.t == JV_LIST) && (a.t == JV_INT || a.t == JV_BOOL))
        return repeat(c, b, a.t == JV_INT ? a.u.i : a.u.b, out);
    return jx_fail(c, HEARTH_ERR_TYPE, "unsupported operand type(s) for %s: '%s' and '%s'", op_sym(op),
                   jv_type_name(a), jv_type_name(b));
}

static hearth_status contains(jctx *c, jv needle, jv hay, bool *out) {
    *out = false;
    switch (hay.t) {
    case JV_UNDEF: return HEARTH_OK;
    case JV_STR:
        if (needle.t != JV_STR)
            return jx_fail(c, HEARTH_ERR_TYPE, "'in <string>' requires string as left operand, not %s",
                           jv_type_name(needle));
        if (needle.u.s.n == 0) { *out = true; return HEARTH_OK; }
        TRY(jx_charge(c, hay.u.s.n / 16));
        for (size_t i = 0; i + needle.u.s.n <= hay.u.s.n; i++)
            if (memcmp(hay.u.s.p + i, needle.u.s.p, needle.u.s.n) == 0) { *out = true; break; }
        return HEARTH_OK;
    case JV_LIST:
        TRY(jx_charge(c, hay.u.l->n));
        for (size_t i = 0; i < hay.u.l->n; i++)
            if (jv_eq(hay.u.l->v[i], needle)) { *out = true; break; }
        return HEARTH_OK;
    case JV_DICT:
    case JV_NS:
        TRY(jx_charge(c, hay.u.d->n));
        *out = jdict_get(hay.u.d, needle) != NULL;
        return HEARTH_OK;
    default:
        return jx_fail(c, HEARTH_ERR_TYPE, "argument of type '%s' is not iterable", jv_type_name(hay));
    }
}

static hearth_status compare(jctx *c, int op, jv a, jv b, bool *out) {
    if (op == OP_EQ) { *out = jv_eq(a, b); return HEARTH_OK; }
    if (op == OP_NE) { *out = !jv_eq(a, b); return HEARTH_OK; }
    if (op == OP_IN || op == OP_NOTIN) {
        TRY(contains(c, a, b, out));
        if (op == OP_NOTIN) *out = !*out;
        return HEARTH_OK;
    }
    bool err = false;
    int r = jv_cmp(a, b, &err);
    if (err) {
        static const char *sym[] = {"<", "<=", ">", ">="};
        return jx_fail(c, HEARTH_ERR_TYPE, "'%s' not supported between instances of '%s' and '%s'",
                       sym[op - OP_LT], jv_type_name(a), jv_type_name(b));
    }
    *out = op == OP_LT ? r < 0 : op == OP_LE ? r <= 0 : op == OP_GT ? r > 0 : r >= 0;
    return HEARTH_OK;
}

/* Python slice semantics on lists and strings (by code point). */
static hearth_status slice(jctx *c, jv obj, const jv *start, const jv *stop, const jv *step, jv *out) {
    int64_t st = 1;
    if (step && step->t != JV_NONE) {
        if (step->t != JV_INT) return jx_fail(c, HEARTH_ERR_TYPE, "slice indices must be integers or None");
        st = step->u.i;
        if (st == 0) return jx_fail(c, HEARTH_ERR_INVALID, "slice step cannot be zero");
    }
    /* Jinja's getitem turns a failed subscript into undefined. */
    if (obj.t != JV_LIST && obj.t != JV_STR) {
        *out = jv_undef();
        return HEARTH_OK;
    }
    size_t len;
    if (obj.t == JV_LIST) len = obj.u.l->n;
    else len = ju_count(obj.u.s.p, obj.u.s.n);
    int64_t L = (int64_t)len, lo, hi;
    const jv *bounds[2] = {start, stop};
    int64_t vals[2];
    for (int k = 0; k < 2; k++) {
        const jv *b = bounds[k];
        if (!b || b->t == JV_NONE) {
            /* Python's defaults; -1 as a negative-step stop means "before 0". */
            if (k == 0) vals[k] = st > 0 ? 0 : L - 1;
            else vals[k] = st > 0 ? L : -1;
            continue;
        }
        if (b->t != JV_INT && b->t != JV_BOOL)
            return jx_fail(c, HEARTH_ERR_TYPE, "slice indices must be integers or None");
        int64_t v = b->t == JV_INT ? b->u.i : b->u.b;
        if (v < 0) {
            v = v < -L ? (st > 0 ? 0 : -1) : v + L;
        } else if (v >= L) {
            v = st > 0 ? L : L - 1;
        }
        vals[k] = v;
    }
    lo = vals[0];
    hi = vals[1];
    TRY(jx_charge(c, len));
    if (obj.t == JV_LIST) {
        jlist *r = jlist_new(&c->arena, 0);
        if (!r) return jx_oom(c);
        r->tuple = obj.u.l->tuple;
        for (int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) {
            if (i < 0 || i >= L) break;
            if (!jlist_push(&c->arena, r, obj.u.l->v[i])) return jx_oom(c);
        }
        out->t = JV_LIST;
        out->u.l = r;
        return HEARTH_OK;
    }
    const char *s = obj.u.s.p;
    size_t n = obj.u.s.n;
    if (st == 1) {
        size_t a = lo < hi ? ju_offset(s, n, (size_t)lo) : 0, b = lo < hi ? ju_offset(s, n, (size_t)hi) : 0;
        *out = jv_str(s + a, b - a);
        return HEARTH_OK;
    }
    char *d = jarena_alloc(&c->arena, n + 1);
    if (!d) return jx_oom(c);
    size_t o = 0;
    /* Offsets of every code point, so a negative step can walk backwards. */
    size_t *offs = jarena_alloc(&c->arena, (len + 1) * sizeof(size_t));
    if (!offs) return jx_oom(c);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) offs[k++] = i;
    offs[len] = n;
    for (int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) {
        if (i < 0 || i >= L) break;
        size_t a = offs[i], b = offs[i + 1];
        memcpy(d + o, s + a, b - a);
        o += b - a;
    }
    d[o] = '\0';
    *out = jv_str(d, o);
    return HEARTH_OK;
}

/* ---- calls ------------------------------------------------------------ */

static hearth_status call_macro(jctx *c, const jmacro *m, const jargs *a, jv *out) {
    const jnode *def = m->def;
    if (c->calls >= JINJA_MAX_CALLS)
        return jx_fail(c, HEARTH_ERR_RANGE, "macro calls nested deeper than %d", JINJA_MAX_CALLS);
    if (a->npos > def->args.n)
        return jx_fail(c, HEARTH_ERR_TYPE, "macro '%.*s' takes %zu positional arguments, got %zu",
                       (int)def->nlen, def->name ? def->name : "caller", def->args.n, a->npos);
    jscope *parent = m->closure && m->closure->alive ? m->closure : c->root;
    jscope *s = scope_push(c, parent);
    if (!s) return jx_oom(c);
    jscope *saved = c->cur;
    c->cur = s;
    c->calls++;
    hearth_status st = HEARTH_OK;
    for (size_t i = 0; i < a->nkw && st == HEARTH_OK; i++) {
        bool found = false;
        for (size_t k = 0; k < def->args.n; k++)
            if (def->args.v[k]->nlen == a->kwl[i] && memcmp(def->args.v[k]->name, a->kwn[i], a->kwl[i]) == 0)
                found = true;
        if (!found)
            st = jx_fail(c, HEARTH_ERR_TYPE, "macro '%.*s' takes no keyword argument '%.*s'", (int)def->nlen,
                         def->name ? def->name : "caller", (int)a->kwl[i], a->kwn[i]);
    }
    for (size_t k = 0; k < def->args.n && st == HEARTH_OK; k++) {
        const jnode *p = def->args.v[k];
        jv v = jv_undef();
        bool set = false;
        if (k < a->npos) {
            v = a->pos[k];
            set = true;
        }
        for (size_t i = 0; i < a->nkw; i++)
            if (p->nlen == a->kwl[i] && memcmp(p->name, a->kwn[i], a->kwl[i]) == 0) {
                v = a->kwv[i];
                set = true;
            }
        if (!set && p->a) st = jx_eval(c, p->a, &v);
        if (st == HEARTH_OK && !scope_set(c, s, p->name, p->nlen, v)) st = jx_oom(c);
    }
    if (st == HEARTH_OK && m->caller.t != JV_UNDEF && !scope_set(c, s, "caller", 6, m->caller)) st = jx_oom(c);
    if (st == HEARTH_OK) st = capture(c, &def->body, out);
    c->loopctl = 0;
    c->calls--;
    s->alive = false;
    c->cur = saved;
    return st;
}

hearth_status jx_call_value(jctx *c, jv callee, const jargs *a, jv *out) {
    switch (callee.t) {
    case JV_MACRO: return call_macro(c, callee.u.m, a, out);
    case JV_FUNC:
    case JV_METHOD: return jb_call_builtin(c, callee, a, out);
    case JV_UNDEF: return jx_fail(c, HEARTH_ERR_INVALID, "called an undefined value");
    default: return jx_fail(c, HEARTH_ERR_TYPE, "'%s' object is not callable", jv_type_name(callee));
    }
}

/* Evaluates positional and keyword arguments of a call/filter/test node. */
static hearth_status eval_args(jctx *c, const jnode *n, jargs *a) {
    memset(a, 0, sizeof(*a));
    size_t np = n->args.n, nk = n->kwargs.n;
    jv *pos = NULL, *kwv = NULL;
    const char **kwn = NULL;
    size_t *kwl = NULL;
    if (np) {
        pos = jarena_alloc(&c->arena, np * sizeof(jv));
        if (!pos) return jx_oom(c);
        for (size_t i = 0; i < np; i++) TRY(jx_eval(c, n->args.v[i], &pos[i]));
    }
    if (nk) {
        kwv = jarena_alloc(&c->arena, nk * sizeof(jv));
        kwn = jarena_alloc(&c->arena, nk * sizeof(*kwn));
        kwl = jarena_alloc(&c->arena, nk * sizeof(*kwl));
        if (!kwv || !kwn || !kwl) return jx_oom(c);
        for (size_t i = 0; i < nk; i++) {
            kwn[i] = n->kwargs.v[i]->name;
            kwl[i] = n->kwargs.v[i]->nlen;
            TRY(jx_eval(c, n->kwargs.v[i]->a, &kwv[i]));
        }
    }
    a->pos = pos;
    a->npos = np;
    a->kwn = kwn;
    a->kwl = kwl;
    a->kwv = kwv;
    a->nkw = nk;
    return HEARTH_OK;
}

/* Applies a filter chain (innermost `a` NULL means `input`). */
static hearth_status apply_filters(jctx *c, const jnode *f, jv input, jv *out) {
    jv v = input;
    if (f->a) TRY(apply_filters(c, f->a, input, &v));
    jargs a;
    TRY(eval_args(c, f, &a));
    c->line = f->line;
    return jb_filter(c, f->name, f->nlen, v, &a, out);
}

/* ---- expressions ------------------------------------------------------ */

static hearth_status eval_inner(jctx *c, const jnode *n, jv *out) {
    jv a, b;
    switch (n->kind) {
    case E_CONST: *out = n->val; return HEARTH_OK;
    case E_NAME: {
        const jv *v = scope_get(c->cur, n->name, n->nlen);
        if (v) {
            *out = *v;
        } else {
            int g = jb_global(n->name, n->nlen);
            *out = jv_undef();
            if (g) {
                out->t = JV_FUNC;
                out->aux = g;
            }
        }
        return HEARTH_OK;
    }
    case E_LIST:
    case E_TUPLE: {
        jlist *l = jlist_new(&c->arena, n->args.n);
        if (!l) return jx_oom(c);
        for (size_t i = 0; i < n->args.n; i++) TRY(jx_eval(c, n->args.v[i], &l->v[i]));
        l->n = n->args.n;
        l->tuple = n->kind == E_TUPLE;
        *out = jv_undef();
        out->t = JV_LIST;
        out->u.l = l;
        return HEARTH_OK;
    }
    case E_DICT: {
        jdict *d = jdict_new(&c->arena, n->args.n);
        if (!d) return jx_oom(c);
        for (size_t i = 0; i < n->args.n; i++) {
            TRY(jx_eval(c, n->args.v[i], &a));
            TRY(jx_eval(c, n->kwargs.v[i], &b));
            if (!jdict_set(&c->arena, d, a, b)) return jx_oom(c);
        }
        *out = jv_undef();
        out->t = JV_DICT;
        out->u.d = d;
        return HEARTH_OK;
    }
    case E_GETATTR:
        TRY(jx_eval(c, n->a, &a));
        c->line = n->line;
        return jb_getattr(c, a, n->name, n->nlen, out);
    case E_GETITEM:
        TRY(jx_eval(c, n->a, &a));
        TRY(jx_eval(c, n->b, &b));
        c->line = n->line;
        return jb_getitem(c, a, b, out);
    case E_SLICE: {
        jv s0 = jv_none(), s1 = jv_none(), s2 = jv_none();
        TRY(jx_eval(c, n->a, &a));
        if (n->b) TRY(jx_eval(c, n->b, &s0));
        if (n->c) TRY(jx_eval(c, n->c, &s1));
        if (n->d) TRY(jx_eval(c, n->d, &s2));
        c->line = n->line;
        return slice(c, a, &s0, &s1, &s2, out);
    }
    case E_CALL: {
        jargs args;
        TRY(jx_eval(c, n->a, &a));
        TRY(eval_args(c, n, &args));
        c->line = n->line;
        if (a.t == JV_UNDEF) return undefined_error(c, n->a);
        return jx_call_value(c, a, &args, out);
    }
    case E_FILTER: {
        jargs args;
        TRY(jx_eval(c, n->a, &a));
        TRY(eval_args(c, n, &args));
        c->line = n->line;
        return jb_filter(c, n->name, n->nlen, a, &args, out);
    }
    case E_TEST: {
        jargs args;
        bool r = false;
        TRY(jx_eval(c, n->a, &a));
        TRY(eval_args(c, n, &args));
        c->line = n->line;
        TRY(jb_test(c, n->name, n->nlen, a, &args, &r));
        *out = jv_bool(n->op ? !r : r);
        return HEARTH_OK;
    }
    case E_NOT:
        TRY(jx_eval(c, n->a, &a));
        *out = jv_bool(!jv_truthy(a));
        return HEARTH_OK;
    case E_NEG:
    case E_POS:
        TRY(jx_eval(c, n->a, &a));
        c->line = n->line;
        if (a.t == JV_INT || a.t == JV_BOOL) {
            int64_t i = a.t == JV_INT ? a.u.i : a.u.b;
            if (n->kind == E_NEG && i == INT64_MIN) return jx_fail(c, HEARTH_ERR_RANGE, "integer overflow");
            *out = jv_int(n->kind == E_NEG ? -i : i);
        } else if (a.t == JV_FLOAT) {
            *out = jv_float(n->kind == E_NEG ? -a.u.f : a.u.f);
        } else if (a.t == JV_UNDEF) {
            return undefined_error(c, n->a);
        } else {
            return jx_fail(c, HEARTH_ERR_TYPE, "bad operand type for unary %s: '%s'", n->kind == E_NEG ? "-" : "+",
                           jv_type_name(a));
        }
        return HEARTH_OK;
    case E_BINOP:
        TRY(jx_eval(c, n->a, &a));
        TRY(jx_eval(c, n->b, &b));
        c->line = n->line;
        return binop(c, n->op, a, b, out);
    case E_COMPARE: {
        bool r = false;
        TRY(jx_eval(c, n->a, &a));
        TRY(jx_eval(c, n->b, &b));
        c->line = n->line;
        TRY(compare(c, n->op, a, b, &r));
        *out = jv_bool(r);
        return HEARTH_OK;
    }
    case E_AND:
        TRY(jx_eval(c, n->a, &a));
        if (!jv_truthy(a)) { *out = a; return HEARTH_OK; }
        return jx_eval(c, n->b, out);
    case E_OR:
        TRY(jx_eval(c, n->a, &a));
        if (jv_truthy(a)) { *out = a; return HEARTH_OK; }
        return jx_eval(c, n->b, out);
    case E_COND:
        TRY(jx_eval(c, n->b, &a));
        if (jv_truthy(a)) return jx_eval(c, n->a, out);
        if (n->c) return jx_eval(c, n->c, out);
        *out = jv_undef();
        return HEARTH_OK;
    case E_CONCAT: {
        jbuf buf = {0};
        hearth_status st = HEARTH_OK;
        for (size_t i = 0; i < n->args.n && st == HEARTH_OK; i++) {
            st = jx_eval(c, n->args.v[i], &a);
            if (st == HEARTH_OK) st = jv_write_str(&buf, a);
        }
        if (st == HEARTH_OK) st = jx_charge(c, buf.n / 16);
        if (st == HEARTH_OK) {
            char *s = jarena_strndup(&c->arena, buf.p ? buf.p : "", buf.n);
            if (!s) st = jx_oom(c);
            else *out = jv_str(s, buf.n);
        }
        jbuf_free(&buf);
        return st;
    }
    default: return jx_fail(c, HEARTH_ERR_INTERNAL, "unexpected node in an expression");
    }
}

hearth_status jx_eval(jctx *c, const jnode *n, jv *out) {
    c->line = n->line;
    TRY(jx_charge(c, 1));
    if (++c->depth > JINJA_MAX_DEPTH) {
        c->depth--;
        return jx_fail(c, HEARTH_ERR_RANGE, "template recursion deeper than %d", JINJA_MAX_DEPTH);
    }
    hearth_status st = eval_inner(c, n, out);
    c->depth--;
    return st;
}

/* ---- statements ------------------------------------------------------- */

/* Binds an assignment target (name or tuple of names) in scope s. */
static hearth_status assign(jctx *c, jscope *s, const jnode *target, jv v) {
    if (target->kind == E_NAME) {
        if (!scope_set(c, s, target->name, target->nlen, v)) return jx_oom(c);
        return HEARTH_OK;
    }
    if (target->kind == E_GETATTR) {
        const jv *ns = scope_get(c->cur, target->a->name, target->a->nlen);
        if (!ns || ns->t != JV_NS)
            return jx_fail(c, HEARTH_ERR_TYPE, "cannot assign attribute on '%.*s': not a namespace",
                           (int)target->a->nlen, target->a->name);
        if (!jdict_set(&c->arena, ns->u.d, jv_str(target->name, target->nlen), v)) return jx_oom(c);
        return HEARTH_OK;
    }
    /* tuple unpacking */
    jlist *items;
    if (v.t == JV_LIST) {
        items = v.u.l;
    } else if (v.t == JV_STR || v.t == JV_DICT) {
        TRY(jb_iter(c, v, &items));
    } else {
        return jx_fail(c, HEARTH_ERR_TYPE, "cannot unpack non-iterable %s object", jv_type_name(v));
    }
    if (items->n != target->args.n)
        return jx_fail(c, HEARTH_ERR_INVALID, "cannot unpack %zu values into %zu names", items->n, target->args.n);
    for (size_t i = 0; i < items->n; i++) TRY(assign(c, s, target->args.v[i], items->v[i]));
    return HEARTH_OK;
}

static hearth_status exec_for(jctx *c, const jnode *n) {
    jv seq;
    TRY(jx_eval(c, n->a, &seq));
    c->line = n->line;
    if (seq.t == JV_NONE || seq.t == JV_INT || seq.t == JV_FLOAT || seq.t == JV_BOOL)
        return jx_fail(c, HEARTH_ERR_TYPE, "'%s' object is not iterable", jv_type_name(seq));
    jlist *items;
    TRY(jb_iter(c, seq, &items));
    jscope *s = scope_push(c, c->cur);
    if (!s) return jx_oom(c);
    jscope *saved = c->cur;
    hearth_status st = HEARTH_OK;
    if (n->c) { /* {% for x in xs if cond %}: filter first, so loop.length counts kept items */
        jlist *kept = jlist_new(&c->arena, 0);
        if (!kept) return jx_oom(c);
        c->cur = s;
        for (size_t i = 0; i < items->n && st == HEARTH_OK; i++) {
            jv cond;
            s->n = 0;
            st = assign(c, s, n->b, items->v[i]);
            if (st == HEARTH_OK) st = jx_eval(c, n->c, &cond);
            if (st == HEARTH_OK && jv_truthy(cond) && !jlist_push(&c->arena, kept, items->v[i])) st = jx_oom(c);
        }
        c->cur = saved;
        if (st != HEARTH_OK) return st;
        items = kept;
    }
    if (items->n == 0) {
        s->alive = false;
        return exec_body(c, &n->orelse);
    }
    jloop *lp = jarena_alloc(&c->arena, sizeof(*lp));
    if (!lp) return jx_oom(c);
    lp->items = items;
    jv loopv = jv_undef();
    loopv.t = JV_LOOP;
    loopv.u.loop = lp;
    c->cur = s;
    for (size_t i = 0; i < items->n; i++) {
        if (++c->iterations > JINJA_MAX_ITERATIONS) {
            c->line = n->line;
            st = jx_fail(c, HEARTH_ERR_RANGE, "template exceeded %u loop iterations", JINJA_MAX_ITERATIONS);
            break;
        }
        lp->index0 = i;
        s->n = 0;
        st = assign(c, s, n->b, items->v[i]);
        if (st == HEARTH_OK && !scope_set(c, s, "loop", 4, loopv)) st = jx_oom(c);
        if (st == HEARTH_OK) st = exec_body(c, &n->body);
        if (st != HEARTH_OK) break;
        if (c->loopctl == 1) {
            c->loopctl = 0;
            break;
        }
        c->loopctl = 0;
    }
    s->alive = false;
    c->cur = saved;
    return st;
}

static hearth_status exec_node(jctx *c, const jnode *n) {
    jv v;
    c->line = n->line;
    switch (n->kind) {
    case N_TEXT: return jbuf_add(c->out, n->val.u.s.p, n->val.u.s.n);
    case N_OUTPUT:
        TRY(jx_eval(c, n->a, &v));
        return jv_write_str(c->out, v);
    case N_IF:
        TRY(jx_eval(c, n->a, &v));
        return exec_body(c, jv_truthy(v) ? &n->body : &n->orelse);
    case N_FOR: return exec_for(c, n);
    case N_SET:
        TRY(jx_eval(c, n->b, &v));
        c->line = n->line;
        return assign(c, c->cur, n->a, v);
    case N_SETBLOCK:
        TRY(capture(c, &n->body, &v));
        return assign(c, c->cur, n->a, v);
    case N_MACRO: {
        jmacro *m = jarena_alloc(&c->arena, sizeof(*m));
        if (!m) return jx_oom(c);
        m->def = n;
        m->closure = c->cur;
        m->caller = jv_undef();
        v = jv_undef();
        v.t = JV_MACRO;
        v.u.m = m;
        if (!scope_set(c, c->cur, n->name, n->nlen, v)) return jx_oom(c);
        return HEARTH_OK;
    }
    case N_CALLBLOCK: {
        const jnode *call = n->a;
        jv callee;
        jargs args;
        TRY(jx_eval(c, call->a, &callee));
        TRY(eval_args(c, call, &args));
        c->line = n->line;
        if (callee.t != JV_MACRO) return jx_fail(c, HEARTH_ERR_TYPE, "a call block needs a macro");
        jmacro *cm = jarena_alloc(&c->arena, sizeof(*cm));
        jmacro *m = jarena_alloc(&c->arena, sizeof(*m));
        if (!cm || !m) return jx_oom(c);
        cm->def = n;
        cm->closure = c->cur;
        cm->caller = jv_undef();
        *m = *callee.u.m;
        m->caller = jv_undef();
        m->caller.t = JV_MACRO;
        m->caller.u.m = cm;
        TRY(call_macro(c, m, &args, &v));
        return jv_write_str(c->out, v);
    }
    case N_FILTERBLOCK: {
        jv body, r;
        TRY(capture(c, &n->body, &body));
        TRY(apply_filters(c, n->a, body, &r));
        return jv_write_str(c->out, r);
    }
    case N_WITH: {
        jscope *s = scope_push(c, c->cur);
        if (!s) return jx_oom(c);
        for (size_t i = 0; i < n->args.n; i++) {
            TRY(jx_eval(c, n->args.v[i]->a, &v));
            TRY(assign(c, s, n->args.v[i]->b, v));
        }
        jscope *saved = c->cur;
        c->cur = s;
        hearth_status st = exec_body(c, &n->body);
        c->cur = saved;
        s->alive = false;
        return st;
    }
    case N_BLOCK: return exec_body(c, &n->body);
    case N_BREAK: c->loopctl = 1; return HEARTH_OK;
    case N_CONTINUE: c->loopctl = 2; return HEARTH_OK;
    default: return jx_fail(c, HEARTH_ERR_INTERNAL, "unexpected node in a template body");
    }
}

static hearth_status exec_body(jctx *c, const jnodes *body) {
    if (++c->depth > JINJA_MAX_DEPTH) {
        c->depth--;
        return jx_fail(c, HEARTH_ERR_RANGE, "template recursion deeper than %d", JINJA_MAX_DEPTH);
    }
    hearth_status st = HEARTH_OK;
    for (size_t i = 0; i < body->n && st == HEARTH_OK; i++) {
        st = jx_charge(c, 1);
        if (st == HEARTH_OK) st = exec_node(c, body->v[i]);
        if (c->loopctl) break;
    }
    c->depth--;
    return st;
}

/* Renders the template; see jinja.h. */
hearth_status jinja_render(const jinja_template *t, const jinja_var *vars, size_t nvars, char **out,
                           size_t *out_len) {
    *out = NULL;
    if (out_len) *out_len = 0;
    jctx c;
    memset(&c, 0, sizeof c);
    c.arena.limit = JINJA_MAX_MEMORY;
    jbuf buf = {0};
    c.out = &buf;
    hearth_status st = HEARTH_OK;
    c.root = scope_push(&c, NULL);
    if (!c.root) st = jx_oom(&c);
    c.cur = c.root;
    for (size_t i = 0; i < nvars && st == HEARTH_OK; i++) {
        jv v;
        if (!jv_from_json(&c.arena, vars[i].value, &v, 0)) {
            st = c.arena.over_limit || !c.arena.head ? jx_oom(&c)
                                                     : hearth_error_set(HEARTH_ERR_RANGE,
                                                                        "context variable '%s' is too deep or too large",
                                                                        vars[i].name);
            break;
        }
        if (!scope_set(&c, c.root, vars[i].name, strlen(vars[i].name), v)) st = jx_oom(&c);
    }
    if (st == HEARTH_OK) st = exec_body(&c, &t->body);
    if (st == HEARTH_OK) {
        if (!buf.p) {
            buf.p = hearth_malloc(1);
            if (!buf.p) st = hearth_error_set(HEARTH_ERR_NOMEM, "template output");
            else buf.p[0] = '\0';
        }
    }
    jarena_free(&c.arena);
    if (st != HEARTH_OK) {
        jbuf_free(&buf);
        return st;
    }
    *out = buf.p;
    if (out_len) *out_len = buf.n;
    return HEARTH_OK;
}
