/* jinja_parse.c - tokens to a syntax tree.
 *
 * A recursive-descent parser with Jinja2's grammar and precedence:
 *   condexpr:  or ['if' or ['else' condexpr]]
 *   or/and/not, comparisons (chained), + -, ~, * / // %, **, unary - +,
 *   then postfix (.attr, [sub], (call)) and filters/tests (| f, is t),
 *   which bind tighter than every binary operator (`a + b|trim` trims b).
 * Errors are HEARTH_ERR_FORMAT "line N: expected X, got Y"; tags outside the
 * subset (include, extends, ...) are HEARTH_ERR_UNSUPPORTED.
 */
#include <stdio.h>
#include <string.h>

#include "engine/jinja.h"
#include "hearth/alloc.h"

typedef struct parser {
    jarena *a;
    const jtok *t;
    size_t n, pos;
    int depth;
    int loops; /* for-loops enclosing the current statement (break/continue) */
} parser;

static hearth_status parse_expr(parser *P, jnode **out);
static hearth_status parse_or(parser *P, jnode **out);
static hearth_status parse_unary(parser *P, bool with_filter, jnode **out);
static hearth_status parse_primary(parser *P, jnode **out);
static hearth_status parse_postfix(parser *P, jnode **n);
static hearth_status parse_body(parser *P, jnodes *out, const char *const *ends, int *which);

static const jtok *cur(parser *P) { return &P->t[P->pos < P->n ? P->pos : P->n - 1]; }
static const jtok *peek(parser *P, size_t k) {
    size_t i = P->pos + k;
    return &P->t[i < P->n ? i : P->n - 1];
}
static void adv(parser *P) {
    if (P->pos < P->n - 1) P->pos++;
}
static bool tok_op(const jtok *t, const char *op) {
    return t->kind == JT_OP && t->n == strlen(op) && memcmp(t->p, op, t->n) == 0;
}
static bool tok_name(const jtok *t, const char *nm) {
    return t->kind == JT_NAME && t->n == strlen(nm) && memcmp(t->p, nm, t->n) == 0;
}

/* Describes a token for "got ..." in error messages. */
static void describe(const jtok *t, char *buf, size_t cap) {
    switch (t->kind) {
    case JT_EOF: snprintf(buf, cap, "end of template"); break;
    case JT_TEXT: snprintf(buf, cap, "template text"); break;
    case JT_VAR_BEGIN: snprintf(buf, cap, "'{{'"); break;
    case JT_BLOCK_BEGIN: snprintf(buf, cap, "'{%%'"); break;
    case JT_VAR_END: snprintf(buf, cap, "'}}'"); break;
    case JT_BLOCK_END: snprintf(buf, cap, "'%%}'"); break;
    case JT_STRING: snprintf(buf, cap, "a string"); break;
    default: snprintf(buf, cap, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->p); break;
    }
}

static hearth_status fail(parser *P, const char *what) {
    char got[64];
    describe(cur(P), got, sizeof got);
    return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected %s, got %s", cur(P)->line, what, got);
}

static hearth_status oom(void) { return hearth_error_set(HEARTH_ERR_NOMEM, "template syntax tree"); }

static jnode *mk(parser *P, jnode_kind k, int line) {
    jnode *n = jarena_alloc(P->a, sizeof(*n));
    if (!n) return NULL;
    memset(n, 0, sizeof(*n));
    n->kind = k;
    n->line = line;
    return n;
}

static hearth_status add(parser *P, jnodes *l, jnode *n) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jnode **v = jarena_alloc(P->a, cap * sizeof(*v));
        if (!v) return oom();
        if (l->n) memcpy(v, l->v, l->n * sizeof(*v));
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = n;
    return HEARTH_OK;
}

static hearth_status expect_op(parser *P, const char *op) {
    if (!tok_op(cur(P), op)) {
        char what[16];
        snprintf(what, sizeof what, "'%s'", op);
        return fail(P, what);
    }
    adv(P);
    return HEARTH_OK;
}

static hearth_status expect_end(parser *P) {
    if (cur(P)->kind != JT_BLOCK_END) return fail(P, "'%}'");
    adv(P);
    return HEARTH_OK;
}

static hearth_status enter(parser *P) {
    if (++P->depth > JINJA_MAX_NEST)
        return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected at most %d nested blocks or operators",
                                cur(P)->line, JINJA_MAX_NEST);
    return HEARTH_OK;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        hearth_status st_ = (x);                                                                   \
        if (st_ != HEARTH_OK) return st_;                                                          \
    } while (0)
#define MK(var, kind, line)                                                                        \
    do {                                                                                           \
        (var) = mk(P, (kind), (line));                                                             \
        if (!(var)) return oom();                                                                  \
    } while (0)

/* ---- expressions ------------------------------------------------------ */

/* Parses `(args, kw=val)` after the '(' has been seen at the current token. */
static hearth_status parse_call_args(parser *P, jnode *call) {
    TRY(expect_op(P, "("));
    while (!tok_op(cur(P), ")")) {
        if (call->args.n + call->kwargs.n > 0) TRY(expect_op(P, ","));
        if (tok_op(cur(P), ")")) break; /* trailing comma */
        if (tok_op(cur(P), "*") || tok_op(cur(P), "**"))
            return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "line %d: *args/**kwargs calls are not supported",
                                    cur(P)->line);
        if (cur(P)->kind == JT_NAME && tok_op(peek(P, 1), "=")) {
            jnode *kw = NULL;
            MK(kw, E_KWARG, cur(P)->line);
            kw->name = cur(P)->p;
            kw->nlen = cur(P)->n;
            adv(P);
            adv(P);
            TRY(parse_expr(P, &kw->a));
            TRY(add(P, &call->kwargs, kw));
        } else {
            if (call->kwargs.n) return fail(P, "a keyword argument (positional after keyword)");
            jnode *arg = NULL;
            TRY(parse_expr(P, &arg));
            TRY(add(P, &call->args, arg));
        }
    }
    adv(P);
    return HEARTH_OK;
}

/* Parses a tuple-or-expression: `a`, `a, b`, `a,`. `cond` enables the
 * conditional expression (off for a for-loop's iterable). */
static hearth_status parse_tuple(parser *P, bool cond, bool explicit_paren, jnode **out) {
    int line = cur(P)->line;
    jnode *first = NULL;
    TRY(cond ? parse_expr(P, &first) : parse_or(P, &first));
    if (!tok_op(cur(P), ",")) {
        *out = first;
        return HEARTH_OK;
    }
    jnode *t = NULL;
    MK(t, E_TUPLE, line);
    TRY(add(P, &t->args, first));
    while (tok_op(cur(P), ",")) {
        adv(P);
        const jtok *c = cur(P);
        if (c->kind == JT_VAR_END || c->kind == JT_BLOCK_END || tok_op(c, ")") ||
            (!explicit_paren && tok_name(c, "if")))
            break;
        jnode *e = NULL;
        TRY(cond ? parse_expr(P, &e) : parse_or(P, &e));
        TRY(add(P, &t->args, e));
    }
    *out = t;
    return HEARTH_OK;
}

static hearth_status parse_primary(parser *P, jnode **out) {
    const jtok *t = cur(P);
    jnode *n = NULL;
    switch (t->kind) {
    case JT_NAME:
        MK(n, E_CONST, t->line);
        if (tok_name(t, "true") || tok_name(t, "True")) n->val = jv_bool(true);
        else if (tok_name(t, "false") || tok_name(t, "False")) n->val = jv_bool(false);
        else if (tok_name(t, "none") || tok_name(t, "None")) n->val = jv_none();
        else {
            n->kind = E_NAME;
            n->name = t->p;
            n->nlen = t->n;
        }
        adv(P);
        break;
    case JT_STRING: {
        MK(n, E_CONST, t->line);
        /* Adjacent literals concatenate, as in Python. */
        size_t total = 0, k = 0;
        while (peek(P, k)->kind == JT_STRING) total += peek(P, k++)->n;
        if (k == 1) {
            n->val = jv_str(t->p, t->n);
        } else {
            char *s = jarena_alloc(P->a, total + 1);
            if (!s) return oom();
            size_t o = 0;
            for (size_t i = 0; i < k; i++) {
                memcpy(s + o, peek(P, i)->p, peek(P, i)->n);
                o += peek(P, i)->n;
            }
            n->val = jv_str(s, total);
        }
        for (size_t i = 0; i < k; i++) adv(P);
        break;
    }
    case JT_INT:
        MK(n, E_CONST, t->line);
        n->val = jv_int(t->i);
        adv(P);
        break;
    case JT_FLOAT:
        MK(n, E_CONST, t->line);
        n->val = jv_float(t->f);
        adv(P);
        break;
    case JT_OP:
        if (tok_op(t, "(")) {
            adv(P);
            if (tok_op(cur(P), ")")) {
                MK(n, E_TUPLE, t->line);
                adv(P);
                break;
            }
            TRY(parse_tuple(P, true, true, &n));
            TRY(expect_op(P, ")"));
            break;
        }
        if (tok_op(t, "[")) {
            MK(n, E_LIST, t->line);
            adv(P);
            while (!tok_op(cur(P), "]")) {
                if (n->args.n) TRY(expect_op(P, ","));
                if (tok_op(cur(P), "]")) break;
                jnode *e = NULL;
                TRY(parse_expr(P, &e));
                TRY(add(P, &n->args, e));
            }
            adv(P);
            break;
        }
        if (tok_op(t, "{")) {
            MK(n, E_DICT, t->line);
            adv(P);
            while (!tok_op(cur(P), "}")) {
                if (n->args.n) TRY(expect_op(P, ","));
                if (tok_op(cur(P), "}")) break;
                jnode *k, *v;
                TRY(parse_expr(P, &k));
                TRY(expect_op(P, ":"));
                TRY(parse_expr(P, &v));
                TRY(add(P, &n->args, k));
                TRY(add(P, &n->kwargs, v));
            }
            adv(P);
            break;
        }
        return fail(P, "an expression");
    default:
        return fail(P, "an expression");
    }
    *out = n;
    return HEARTH_OK;
}

/* Parses `[index]` or `[start:stop:step]` applied to *n. */
static hearth_status parse_subscript(parser *P, jnode **n) {
    int line = cur(P)->line;
    adv(P); /* [ */
    jnode *start = NULL, *stop = NULL, *step = NULL;
    if (!tok_op(cur(P), ":")) TRY(parse_expr(P, &start));
    if (tok_op(cur(P), "]")) {
        if (!start) return fail(P, "an index");
        adv(P);
        jnode *g = NULL;
        MK(g, E_GETITEM, line);
        g->a = *n;
        g->b = start;
        *n = g;
        return HEARTH_OK;
    }
    TRY(expect_op(P, ":"));
    if (!tok_op(cur(P), "]") && !tok_op(cur(P), ":")) TRY(parse_expr(P, &stop));
    if (tok_op(cur(P), ":")) {
        adv(P);
        if (!tok_op(cur(P), "]")) TRY(parse_expr(P, &step));
    }
    TRY(expect_op(P, "]"));
    jnode *s = NULL;
    MK(s, E_SLICE, line);
    s->a = *n;
    s->b = start;
    s->c = stop;
    s->d = step;
    *n = s;
    return HEARTH_OK;
}

static hearth_status parse_postfix(parser *P, jnode **n) {
    while (1) {
        const jtok *t = cur(P);
        if (tok_op(t, ".")) {
            adv(P);
            const jtok *a = cur(P);
            jnode *g = NULL;
            if (a->kind == JT_NAME) {
                MK(g, E_GETATTR, a->line);
                g->name = a->p;
                g->nlen = a->n;
            } else if (a->kind == JT_INT) {
                MK(g, E_GETITEM, a->line);
                MK(g->b, E_CONST, a->line);
                g->b->val = jv_int(a->i);
            } else {
                return fail(P, "an attribute name");
            }
            g->a = *n;
            adv(P);
            *n = g;
        } else if (tok_op(t, "[")) {
            TRY(parse_subscript(P, n));
        } else if (tok_op(t, "(")) {
            jnode *c = NULL;
            MK(c, E_CALL, t->line);
            c->a = *n;
            TRY(parse_call_args(P, c));
            *n = c;
        } else {
            return HEARTH_OK;
        }
    }
}

/* Reads a dotted name (filter/test names may be `a.b`). */
static hearth_status dotted_name(parser *P, jnode *n) {
    if (cur(P)->kind != JT_NAME) return fail(P, "a name");
    n->name = cur(P)->p;
    n->nlen = cur(P)->n;
    adv(P);
    while (tok_op(cur(P), ".") && peek(P, 1)->kind == JT_NAME) {
        /* names are contiguous in the source, so extend the span */
        const jtok *nm = peek(P, 1);
        n->nlen = (size_t)(nm->p + nm->n - n->name);
        adv(P);
        adv(P);
    }
    return HEARTH_OK;
}

static hearth_status parse_filter_expr(parser *P, jnode **n) {
    while (1) {
        const jtok *t = cur(P);
        if (tok_op(t, "|")) {
            adv(P);
            jnode *f = NULL;
            MK(f, E_FILTER, t->line);
            TRY(dotted_name(P, f));
            if (tok_op(cur(P), "(")) TRY(parse_call_args(P, f));
            f->a = *n;
            *n = f;
        } else if (tok_name(t, "is")) {
            adv(P);
            jnode *te = NULL;
            MK(te, E_TEST, t->line);
            if (tok_name(cur(P), "not")) {
                te->op = 1;
                adv(P);
            }
            TRY(dotted_name(P, te));
            const jtok *c = cur(P);
            if (tok_op(c, "(")) {
                TRY(parse_call_args(P, te));
            } else if ((c->kind == JT_NAME || c->kind == JT_STRING || c->kind == JT_INT || c->kind == JT_FLOAT ||
                        tok_op(c, "[") || tok_op(c, "{")) &&
                       !tok_name(c, "else") && !tok_name(c, "or") && !tok_name(c, "and")) {
                if (tok_name(c, "is")) return fail(P, "one test (tests cannot be chained with 'is')");
                jnode *arg = NULL;
                TRY(parse_primary(P, &arg));
                TRY(parse_postfix(P, &arg));
                TRY(add(P, &te->args, arg));
            }
            te->a = *n;
            *n = te;
        } else if (tok_op(t, "(")) {
            jnode *c = NULL;
            MK(c, E_CALL, t->line);
            c->a = *n;
            TRY(parse_call_args(P, c));
            *n = c;
        } else {
            return HEARTH_OK;
        }
    }
}

static hearth_status parse_unary(parser *P, bool with_filter, jnode **out) {
    const jtok *t = cur(P);
    jnode *n = NULL;
    TRY(enter(P));
    if (tok_op(t, "-") || tok_op(t, "+")) {
        MK(n, tok_op(t, "-") ? E_NEG : E_POS, t->line);
        adv(P);
        TRY(parse_unary(P, false, &n->a));
    } else {
        TRY(parse_primary(P, &n));
    }
    TRY(parse_postfix(P, &n));
    if (with_filter) TRY(parse_filter_expr(P, &n));
    P->depth--;
    *out = n;
    return HEARTH_OK;
}

static hearth_status binop(parser *P, int op, int line, jnode *a, jnode *b, jnode **out) {
    jnode *n = NULL;
    MK(n, E_BINOP, line);
    n->op = op;
    n->a = a;
    n->b = b;
    *out = n;
    return HEARTH_OK;
}

static hearth_status parse_pow(parser *P, jnode **out) {
    jnode *l = NULL;
    TRY(parse_unary(P, true, &l));
    while (tok_op(cur(P), "**")) {
        int line = cur(P)->line;
        adv(P);
        jnode *r = NULL;
        TRY(parse_unary(P, true, &r));
        TRY(binop(P, OP_POW, line, l, r, &l));
    }
    *out = l;
    return HEARTH_OK;
}

static hearth_status parse_math2(parser *P, jnode **out) {
    jnode *l = NULL;
    TRY(parse_pow(P, &l));
    while (1) {
        const jtok *t = cur(P);
        int op = tok_op(t, "*") ? OP_MUL : tok_op(t, "/") ? OP_DIV : tok_op(t, "//") ? OP_FLOORDIV
                 : tok_op(t, "%") ? OP_MOD : 0;
        if (!op) break;
        adv(P);
        jnode *r = NULL;
        TRY(parse_pow(P, &r));
        TRY(binop(P, op, t->line, l, r, &l));
    }
    *out = l;
    return HEARTH_OK;
}

static hearth_status parse_concat(parser *P, jnode **out) {
    jnode *l = NULL;
    TRY(parse_math2(P, &l));
    if (!tok_op(cur(P), "~")) {
        *out = l;
        return HEARTH_OK;
    }
    jnode *c = NULL;
    MK(c, E_CONCAT, cur(P)->line);
    TRY(add(P, &c->args, l));
    while (tok_op(cur(P), "~")) {
        adv(P);
        jnode *r = NULL;
        TRY(parse_math2(P, &r));
        TRY(add(P, &c->args, r));
    }
    *out = c;
    return HEARTH_OK;
}

static hearth_status parse_math1(parser *P, jnode **out) {
    jnode *l = NULL;
    TRY(parse_concat(P, &l));
    while (tok_op(cur(P), "+") || tok_op(cur(P), "-")) {
        const jtok *t = cur(P);
        int op = tok_op(t, "+") ? OP_ADD : OP_SUB;
        adv(P);
        jnode *r = NULL;
        TRY(parse_concat(P, &r));
        TRY(binop(P, op, t->line, l, r, &l));
    }
    *out = l;
    return HEARTH_OK;
}

static hearth_status parse_compare(parser *P, jnode **out) {
    jnode *l = NULL;
    TRY(parse_math1(P, &l));
    jnode *result = NULL;
    while (1) {
        const jtok *t = cur(P);
        int op = 0;
        if (tok_op(t, "==")) op = OP_EQ;
        else if (tok_op(t, "!=")) op = OP_NE;
        else if (tok_op(t, "<")) op = OP_LT;
        else if (tok_op(t, "<=")) op = OP_LE;
        else if (tok_op(t, ">")) op = OP_GT;
        else if (tok_op(t, ">=")) op = OP_GE;
        else if (tok_name(t, "in")) op = OP_IN;
        else if (tok_name(t, "not") && tok_name(peek(P, 1), "in")) op = OP_NOTIN;
        if (!op) break;
        adv(P);
        if (op == OP_NOTIN) adv(P);
        jnode *r, *c;
        TRY(parse_math1(P, &r));
        MK(c, E_COMPARE, t->line);
        c->op = op;
        c->a = l;
        c->b = r;
        /* a < b < c is (a < b) and (b < c) */
        if (result) {
            jnode *and_ = NULL;
            MK(and_, E_AND, t->line);
            and_->a = result;
            and_->b = c;
            result = and_;
        } else {
            result = c;
        }
        l = r;
    }
    *out = result ? result : l;
    return HEARTH_OK;
}

static hearth_status parse_not(parser *P, jnode **out) {
    if (tok_name(cur(P), "not")) {
        jnode *n = NULL;
        MK(n, E_NOT, cur(P)->line);
        adv(P);
        TRY(enter(P));
        TRY(parse_not(P, &n->a));
        P->depth--;
        *out = n;
        return HEARTH_OK;
    }
    return parse_compare(P, out);
}

static hearth_status parse_and(parser *P, jnode **out) {
    jnode *l = NULL;
    TRY(parse_not(P, &l));
    while (tok_name(cur(P), "and")) {
        jnode *n = NULL;
        MK(n, E_AND, cur(P)->line);
        adv(P);
        n->a = l;
        TRY(parse_not(P, &n->b));
        l = n;
    }
    *out = l;
    return HEARTH_OK;
}

static hearth_status parse_or(parser *P, jnode **out) {
    jnode *l = NULL;
    TRY(parse_and(P, &l));
    while (tok_name(cur(P), "or")) {
        jnode *n = NULL;
        MK(n, E_OR, cur(P)->line);
        adv(P);
        n->a = l;
        TRY(parse_and(P, &n->b));
        l = n;
    }
    *out = l;
    return HEARTH_OK;
}

/* condexpr: or ['if' or ['else' condexpr]] */
static hearth_status parse_expr(parser *P, jnode **out) {
    TRY(enter(P));
    jnode *l = NULL;
    TRY(parse_or(P, &l));
    while (tok_name(cur(P), "if")) {
        jnode *n = NULL;
        MK(n, E_COND, cur(P)->line);
        adv(P);
        n->a = l;
        TRY(parse_or(P, &n->b));
        if (tok_name(cur(P), "else")) {
            adv(P);
            TRY(parse_expr(P, &n->c));
        }
        l = n;
    }
    P->depth--;
    *out = l;
    return HEARTH_OK;
}

/* ---- statements ------------------------------------------------------- */

/* Parses an assignment target: a name, `ns.attr` (when allowed), or a
 * tuple of names. */
static hearth_status parse_target(parser *P, bool allow_attr, jnode **out) {
    int line = cur(P)->line;
    bool paren = false;
    if (tok_op(cur(P), "(")) {
        paren = true;
        adv(P);
    }
    jnode *tuple = NULL, *first = NULL;
    while (1) {
        if (cur(P)->kind != JT_NAME) return fail(P, "a variable name");
        jnode *n = NULL;
        MK(n, E_NAME, cur(P)->line);
        n->name = cur(P)->p;
        n->nlen = cur(P)->n;
        adv(P);
        if (allow_attr && !tuple && tok_op(cur(P), ".")) {
            adv(P);
            if (cur(P)->kind != JT_NAME) return fail(P, "an attribute name");
            jnode *g = NULL;
            MK(g, E_GETATTR, cur(P)->line);
            g->a = n;
            g->name = cur(P)->p;
            g->nlen = cur(P)->n;
            adv(P);
            n = g;
        }
        if (!first) {
            first = n;
        } else {
            if (!tuple) {
                MK(tuple, E_TUPLE, line);
                TRY(add(P, &tuple->args, first));
            }
            TRY(add(P, &tuple->args, n));
        }
        if (!tok_op(cur(P), ",")) break;
        if (first->kind == E_GETATTR) return fail(P, "'=' (cannot unpack into an attribute)");
        adv(P);
        if (tuple && tuple->args.v[tuple->args.n - 1]->kind == E_GETATTR)
            return fail(P, "a variable name");
    }
    if (paren) TRY(expect_op(P, ")"));
    if (tuple) {
        for (size_t i = 0; i < tuple->args.n; i++)
            if (tuple->args.v[i]->kind != E_NAME) return fail(P, "a variable name");
    }
    *out = tuple ? tuple : first;
    return HEARTH_OK;
}

/* Parses `(a, b=default)` macro/call-block parameters into n->args (E_NAME
 * nodes whose `a` is the default). */
static hearth_status parse_params(parser *P, jnode *n) {
    TRY(expect_op(P, "("));
    while (!tok_op(cur(P), ")")) {
        if (n->args.n) TRY(expect_op(P, ","));
        if (tok_op(cur(P), ")")) break;
        if (cur(P)->kind != JT_NAME) return fail(P, "a parameter name");
        jnode *p = NULL;
        MK(p, E_NAME, cur(P)->line);
        p->name = cur(P)->p;
        p->nlen = cur(P)->n;
        adv(P);
        if (tok_op(cur(P), "=")) {
            adv(P);
            TRY(parse_expr(P, &p->a));
        } else {
            for (size_t i = 0; i < n->args.n; i++)
                if (n->args.v[i]->a) return fail(P, "a default value (non-default parameter follows default)");
        }
        TRY(add(P, &n->args, p));
    }
    adv(P);
    return HEARTH_OK;
}

static const char *const END_IF[] = {"elif", "else", "endif", NULL};
static const char *const END_FOR[] = {"else", "endfor", NULL};
static const char *const END_ENDFOR[] = {"endfor", NULL};
static const char *const END_SET[] = {"endset", NULL};
static const char *const END_MACRO[] = {"endmacro", NULL};
static const char *const END_CALL[] = {"endcall", NULL};
static const char *const END_FILTER[] = {"endfilter", NULL};
static const char *const END_WITH[] = {"endwith", NULL};
static const char *const END_GEN[] = {"endgeneration", NULL};

static hearth_status parse_if(parser *P, int line, jnode **out) {
    jnode *n = NULL;
    MK(n, N_IF, line);
    TRY(parse_expr(P, &n->a));
    TRY(expect_end(P));
    int which;
    TRY(parse_body(P, &n->body, END_IF, &which));
    jnode *tail = n;
    while (which == 0) { /* elif */
        jnode *e = NULL;
        MK(e, N_IF, cur(P)->line);
        TRY(parse_expr(P, &e->a));
        TRY(expect_end(P));
        TRY(add(P, &tail->orelse, e));
        tail = e;
        TRY(parse_body(P, &e->body, END_IF, &which));
    }
    if (which == 1) { /* else */
        TRY(expect_end(P));
        TRY(parse_body(P, &tail->orelse, END_IF + 2, &which));
    }
    TRY(expect_end(P));
    *out = n;
    return HEARTH_OK;
}

static hearth_status parse_for(parser *P, int line, jnode **out) {
    jnode *n = NULL;
    MK(n, N_FOR, line);
    TRY(parse_target(P, false, &n->b));
    if (!tok_name(cur(P), "in")) return fail(P, "'in'");
    adv(P);
    TRY(parse_tuple(P, false, false, &n->a));
    if (tok_name(cur(P), "if")) {
        adv(P);
        TRY(parse_expr(P, &n->c));
    }
    if (tok_name(cur(P), "recursive"))
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "line %d: recursive loops are not supported", line);
    TRY(expect_end(P));
    int which;
    P->loops++;
    TRY(parse_body(P, &n->body, END_FOR, &which));
    P->loops--;
    if (which == 0) {
        TRY(expect_end(P));
        TRY(parse_body(P, &n->orelse, END_ENDFOR, &which));
    }
    TRY(expect_end(P));
    *out = n;
    return HEARTH_OK;
}

static hearth_status parse_statement(parser *P, jnode **out) {
    const jtok *t = cur(P);
    int line = t->line;
    int which;
    jnode *n = NULL;
    if (t->kind != JT_NAME) return fail(P, "a statement name");
    TRY(enter(P));
    adv(P);
    if (tok_name(t, "if")) {
        TRY(parse_if(P, line, &n));
    } else if (tok_name(t, "for")) {
        TRY(parse_for(P, line, &n));
    } else if (tok_name(t, "set")) {
        MK(n, N_SET, line);
        TRY(parse_target(P, true, &n->a));
        if (tok_op(cur(P), "=")) {
            adv(P);
            TRY(parse_tuple(P, true, false, &n->b));
            TRY(expect_end(P));
        } else {
            if (n->a->kind != E_NAME) return fail(P, "'='");
            n->kind = N_SETBLOCK;
            TRY(expect_end(P));
            TRY(parse_body(P, &n->body, END_SET, &which));
            TRY(expect_end(P));
        }
    } else if (tok_name(t, "macro")) {
        MK(n, N_MACRO, line);
        if (cur(P)->kind != JT_NAME) return fail(P, "a macro name");
        n->name = cur(P)->p;
        n->nlen = cur(P)->n;
        adv(P);
        TRY(parse_params(P, n));
        TRY(expect_end(P));
        int saved = P->loops;
        P->loops = 0;
        TRY(parse_body(P, &n->body, END_MACRO, &which));
        P->loops = saved;
        if (cur(P)->kind == JT_NAME) adv(P); /* {% endmacro name %} */
        TRY(expect_end(P));
    } else if (tok_name(t, "call")) {
        MK(n, N_CALLBLOCK, line);
        if (tok_op(cur(P), "(")) TRY(parse_params(P, n));
        TRY(parse_expr(P, &n->a));
        if (n->a->kind != E_CALL) return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected a call", line);
        TRY(expect_end(P));
        int saved = P->loops;
        P->loops = 0;
        TRY(parse_body(P, &n->body, END_CALL, &which));
        P->loops = saved;
        TRY(expect_end(P));
    } else if (tok_name(t, "filter")) {
        MK(n, N_FILTERBLOCK, line);
        jnode *chain = NULL;
        do {
            if (chain) adv(P); /* | */
            jnode *f = NULL;
            MK(f, E_FILTER, cur(P)->line);
            TRY(dotted_name(P, f));
            if (tok_op(cur(P), "(")) TRY(parse_call_args(P, f));
            f->a = chain;
            chain = f;
        } while (tok_op(cur(P), "|"));
        n->a = chain;
        TRY(expect_end(P));
        TRY(parse_body(P, &n->body, END_FILTER, &which));
        TRY(expect_end(P));
    } else if (tok_name(t, "with")) {
        MK(n, N_WITH, line);
        while (cur(P)->kind != JT_BLOCK_END) {
            if (n->args.n) TRY(expect_op(P, ","));
            jnode *kw = NULL;
            MK(kw, E_KWARG, cur(P)->line);
            TRY(parse_target(P, false, &kw->b));
            TRY(expect_op(P, "="));
            TRY(parse_expr(P, &kw->a));
            TRY(add(P, &n->args, kw));
        }
        TRY(expect_end(P));
        TRY(parse_body(P, &n->body, END_WITH, &which));
        TRY(expect_end(P));
    } else if (tok_name(t, "generation")) {
        MK(n, N_BLOCK, line);
        TRY(expect_end(P));
        TRY(parse_body(P, &n->body, END_GEN, &which));
        TRY(expect_end(P));
    } else if (tok_name(t, "break") || tok_name(t, "continue")) {
        if (!P->loops)
            return hearth_error_set(HEARTH_ERR_FORMAT, "line %d: expected '%.*s' inside a for loop", line,
                                    (int)t->n, t->p);
        MK(n, tok_name(t, "break") ? N_BREAK : N_CONTINUE, line);
        TRY(expect_end(P));
    } else if (tok_name(t, "include") || tok_name(t, "import") || tok_name(t, "from") ||
               tok_name(t, "extends") || tok_name(t, "block") || tok_name(t, "do") ||
               tok_name(t, "autoescape") || tok_name(t, "trans")) {
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "line %d: the '%.*s' tag is not supported", line,
                                (int)t->n, t->p);
    } else {
        P->pos--;
        return fail(P, "a statement (if, for, set, macro, call, filter, with, break, continue)");
    }
    P->depth--;
    *out = n;
    return HEARTH_OK;
}

/* Parses statements until EOF (ends == NULL) or a block tag whose name is
 * in `ends`; then the tag's `{%` and name are consumed and *which is its
 * index. */
static hearth_status parse_body(parser *P, jnodes *out, const char *const *ends, int *which) {
    int open_line = cur(P)->line;
    while (1) {
        const jtok *t = cur(P);
        jnode *n = NULL;
        if (t->kind == JT_EOF) {
            if (!ends) return HEARTH_OK;
            char what[96];
            snprintf(what, sizeof what, "'%s' (block opened near line %d)", ends[0], open_line);
            int i = 0;
            while (ends[i + 1]) i++;
            snprintf(what, sizeof what, "'%s' (block opened near line %d)", ends[i], open_line);
            return fail(P, what);
        }
        if (t->kind == JT_TEXT) {
            MK(n, N_TEXT, t->line);
            n->val = jv_str(t->p, t->n);
            adv(P);
        } else if (t->kind == JT_VAR_BEGIN) {
            adv(P);
            MK(n, N_OUTPUT, t->line);
            TRY(parse_tuple(P, true, false, &n->a));
            if (cur(P)->kind != JT_VAR_END) return fail(P, "'}}'");
            adv(P);
        } else if (t->kind == JT_BLOCK_BEGIN) {
            const jtok *nm = peek(P, 1);
            if (ends && nm->kind == JT_NAME) {
                for (int i = 0; ends[i]; i++) {
                    if (tok_name(nm, ends[i])) {
                        adv(P);
                        adv(P);
                        *which = i;
                        return HEARTH_OK;
                    }
                }
            }
            if (nm->kind == JT_NAME && nm->n > 3 && memcmp(nm->p, "end", 3) == 0) {
                adv(P);
                return fail(P, ends ? "a matching end tag" : "a statement (no block is open)");
            }
            if (nm->kind == JT_NAME && (tok_name(nm, "elif") || tok_name(nm, "else"))) {
                adv(P);
                return fail(P, "a statement ('else'/'elif' outside a block)");
            }
            adv(P);
            TRY(parse_statement(P, &n));
        } else {
            return fail(P, "template text or a tag");
        }
        TRY(add(P, out, n));
    }
}

/* Parses a template: newline normalisation (\r\n and \r become \n, one
 * trailing newline is dropped, as Jinja2 does with keep_trailing_newline
 * off), lexing, then the tree. Returns FORMAT/UNSUPPORTED/RANGE/NOMEM. */
hearth_status jinja_parse(const char *src, size_t len, jinja_template **out) {
    *out = NULL;
    if (!src && len) return hearth_error_set(HEARTH_ERR_INVALID, "template source is NULL");
    if (len > JINJA_MAX_SOURCE)
        return hearth_error_set(HEARTH_ERR_RANGE, "template is %zu bytes (limit %u)", len, JINJA_MAX_SOURCE);
    jinja_template *t = hearth_calloc(1, sizeof(*t));
    if (!t) return oom();
    char *s = jarena_alloc(&t->arena, len + 1);
    if (!s) {
        jinja_template_free(t);
        return oom();
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n > 0 && s[n - 1] == '\n') n--;
    s[n] = '\0';
    jtoks toks = {0};
    hearth_status st = jinja_lex(&t->arena, s, n, &toks);
    if (st == HEARTH_OK) {
        parser P = {&t->arena, toks.v, toks.n, 0, 0, 0};
        st = parse_body(&P, &t->body, NULL, NULL);
    }
    hearth_free(toks.v);
    if (st != HEARTH_OK) {
        jinja_template_free(t);
        return st;
    }
    *out = t;
    return HEARTH_OK;
}

/* Frees a parsed template; accepts NULL. */
void jinja_template_free(jinja_template *t) {
    if (!t) return;
    jarena_free(&t->arena);
    hearth_free(t);
}
