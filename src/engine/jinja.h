/* jinja.h - internal interface of hearth's Jinja-subset interpreter.
 *
 * The interpreter has four parts, one idea per file:
 *   jinja_value.c   the arena, the value type, str()/repr()/tojson, ==/<
 *   jinja_lex.c     template text -> tokens, with Jinja2's whitespace rules
 *                   (trim_blocks, lstrip_blocks, '-'/'+' markers)
 *   jinja_parse.c   tokens -> syntax tree
 *   jinja_eval.c    runs the tree (statements, expressions, scopes, limits)
 *   jinja_builtins.c filters, tests, methods and global functions
 *
 * Memory: a parsed template owns one arena holding its tree; a render owns
 * another holding every value it creates. Values are immutable (the sandbox
 * HF uses forbids mutating lists and dicts) except namespace objects, so they
 * share storage freely and nothing is reference counted: the render arena is
 * dropped as a whole, which also makes every error path leak-free.
 */
#ifndef HEARTH_JINJA_H
#define HEARTH_JINJA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/status.h"

/* Limits that keep a hostile template bounded. */
#define JINJA_MAX_SOURCE (4u << 20)        /* template bytes */
#define JINJA_MAX_OUTPUT (16u << 20)       /* bytes of output, and of any one string */
#define JINJA_MAX_ITERATIONS 1000000u      /* loop iterations per render */
#define JINJA_MAX_LIST 1000000u            /* items in one list (range, repetition) */
#define JINJA_MAX_STEPS 50000000u          /* evaluation steps per render */
#define JINJA_MAX_MEMORY ((size_t)512 << 20) /* render arena bytes */
#define JINJA_MAX_NEST 100                 /* parser nesting (blocks, brackets) */
#define JINJA_MAX_DEPTH 600                /* evaluator recursion */
#define JINJA_MAX_CALLS 64                 /* nested macro calls */

/* ---- arena ------------------------------------------------------------ */

typedef struct jarena_chunk jarena_chunk;
typedef struct jarena {
    jarena_chunk *head;
    size_t total;    /* bytes obtained from the heap */
    size_t limit;    /* 0: none */
    bool over_limit; /* the last failure was the limit, not the heap */
} jarena;

/* Returns `n` bytes aligned for any type, or NULL (heap failure or limit). */
void *jarena_alloc(jarena *a, size_t n);
/* Returns a copy of `n` bytes (NUL-terminated), or NULL. */
char *jarena_strndup(jarena *a, const char *s, size_t n);
void jarena_free(jarena *a);

/* ---- values ----------------------------------------------------------- */

typedef enum jv_type {
    JV_UNDEF = 0,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST,   /* list or tuple */
    JV_DICT,
    JV_NS,     /* namespace(): a dict whose attributes can be set */
    JV_LOOP,   /* the `loop` variable of a for */
    JV_MACRO,  /* a macro, or `caller` inside a call block */
    JV_FUNC,   /* a global function (range, namespace, ...) */
    JV_METHOD  /* a bound method such as s.strip */
} jv_type;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jloop jloop;
typedef struct jmacro jmacro;
typedef struct jmethod jmethod;

typedef struct jv {
    jv_type t;
    int aux; /* JV_FUNC: which function */
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
        jlist *l;
        jdict *d;
        jloop *loop;
        jmacro *m;
        jmethod *bm;
    } u;
} jv;

struct jlist {
    jv *v;
    size_t n, cap;
    bool tuple;
};

struct jdict {
    jv *k, *v;
    size_t n, cap;
};

struct jloop {
    jlist *items;
    size_t index0;
};

struct jmethod {
    jv self;
    const char *name;
    size_t nlen;
};

struct jnode;
struct jscope;
struct jmacro {
    const struct jnode *def;  /* N_MACRO, or N_CALLBLOCK for caller */
    struct jscope *closure;   /* scope the body resolves free names in */
    jv caller;                /* the caller bound to this invocation, or undefined */
};

static inline jv jv_undef(void) { jv v = {0}; return v; }
static inline jv jv_none(void) { jv v = {0}; v.t = JV_NONE; return v; }
static inline jv jv_bool(bool b) { jv v = {0}; v.t = JV_BOOL; v.u.b = b; return v; }
static inline jv jv_int(int64_t i) { jv v = {0}; v.t = JV_INT; v.u.i = i; return v; }
static inline jv jv_float(double f) { jv v = {0}; v.t = JV_FLOAT; v.u.f = f; return v; }
static inline jv jv_str(const char *p, size_t n) {
    jv v = {0};
    v.t = JV_STR;
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}

/* Growable byte buffer bounded by JINJA_MAX_OUTPUT (heap, not arena). */
typedef struct jbuf {
    char *p;
    size_t n, cap;
} jbuf;

/* Appends bytes; HEARTH_ERR_RANGE past the output limit, NOMEM on failure. */
hearth_status jbuf_add(jbuf *b, const char *s, size_t n);
void jbuf_free(jbuf *b);

jlist *jlist_new(jarena *a, size_t cap);
/* Appends to a list under construction; false on allocation failure. */
bool jlist_push(jarena *a, jlist *l, jv v);
jdict *jdict_new(jarena *a, size_t cap);
/* Sets key -> value (replacing an equal key); false on allocation failure. */
bool jdict_set(jarena *a, jdict *d, jv key, jv val);
/* Returns the value stored under a string key, or NULL. */
jv *jdict_get_str(const jdict *d, const char *k, size_t n);
jv *jdict_get(const jdict *d, jv key);

/* Converts a jansson value; strings are referenced, not copied (the json
 * must outlive the render). Returns false on allocation failure or depth. */
bool jv_from_json(jarena *a, const json_t *j, jv *out, int depth);

bool jv_truthy(jv v);
/* Python ==. */
bool jv_eq(jv a, jv b);
/* Python <-style ordering; returns false with *err set for mismatched types. */
int jv_cmp(jv a, jv b, bool *err);
const char *jv_type_name(jv v);
bool jv_is_number(jv v); /* int or float, not bool */

/* Appends Python str(v) to b. */
hearth_status jv_write_str(jbuf *b, jv v);
/* Appends Python repr(v). */
hearth_status jv_write_repr(jbuf *b, jv v);
/* Appends json.dumps(v, ensure_ascii=False, indent=indent, sort_keys=sort):
 * indent < 0 means none; indent_str overrides the spaces when non-NULL. */
hearth_status jv_write_json(jbuf *b, jv v, const char *indent_str, size_t indent_len,
                            bool sort_keys, int depth);
/* Python repr of a float (shortest round-trip). */
void jv_float_repr(double f, char *out, size_t cap);

/* UTF-8 helpers: the number of code points, and the byte offset of the
 * code point with index `cp` (clamped to len). */
size_t ju_count(const char *s, size_t n);
size_t ju_offset(const char *s, size_t n, size_t cp);

/* ---- lexer ------------------------------------------------------------ */

typedef enum jtok_kind {
    JT_EOF = 0,
    JT_TEXT,
    JT_VAR_BEGIN,
    JT_VAR_END,
    JT_BLOCK_BEGIN,
    JT_BLOCK_END,
    JT_NAME,
    JT_STRING,
    JT_INT,
    JT_FLOAT,
    JT_OP
} jtok_kind;

typedef struct jtok {
    jtok_kind kind;
    int line;
    const char *p; /* text, name, op or decoded string (arena / source) */
    size_t n;
    int64_t i;
    double f;
} jtok;

typedef struct jtoks {
    jtok *v;
    size_t n, cap;
} jtoks;

/* Tokenises a (newline-normalised) template. Strings and text live in the
 * arena or the source. Returns HEARTH_ERR_FORMAT with "line N: ..." detail. */
hearth_status jinja_lex(jarena *a, const char *src, size_t len, jtoks *out);

/* ---- syntax tree ------------------------------------------------------ */

typedef enum jnode_kind {
    N_TEXT,
    N_OUTPUT,
    N_IF,
    N_FOR,
    N_SET,
    N_SETBLOCK,
    N_MACRO,
    N_CALLBLOCK,
    N_FILTERBLOCK,
    N_WITH,
    N_BLOCK, /* a plain body (generation blocks) */
    N_BREAK,
    N_CONTINUE,
    E_CONST,
    E_NAME,
    E_LIST,
    E_TUPLE,
    E_DICT,
    E_GETATTR,
    E_GETITEM,
    E_SLICE,
    E_CALL,
    E_KWARG,
    E_FILTER,
    E_TEST,
    E_NOT,
    E_NEG,
    E_POS,
    E_BINOP,
    E_COMPARE,
    E_AND,
    E_OR,
    E_COND,
    E_CONCAT
} jnode_kind;

typedef enum jop {
    OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN
} jop;

typedef struct jnode jnode;
typedef struct jnodes {
    jnode **v;
    size_t n, cap;
} jnodes;

struct jnode {
    jnode_kind kind;
    int op;   /* E_BINOP/E_COMPARE: jop; E_TEST: negated */
    int line;
    jv val;   /* E_CONST, N_TEXT */
    const char *name; /* E_NAME, attribute, filter/test/macro/kwarg name */
    size_t nlen;
    jnode *a, *b, *c, *d;
    jnodes args;   /* call/filter args, list items, dict keys, targets, params */
    jnodes kwargs; /* E_KWARG nodes; dict values */
    jnodes body;
    jnodes orelse;
};

typedef struct jinja_template {
    jarena arena;
    jnodes body;
} jinja_template;

/* Parses a template (source is copied). */
hearth_status jinja_parse(const char *src, size_t len, jinja_template **out);
void jinja_template_free(jinja_template *t);

/* ---- evaluation ------------------------------------------------------- */

typedef struct jinja_var {
    const char *name;
    const json_t *value; /* NULL: none */
} jinja_var;

/* Renders with the given context variables (later ones win). */
hearth_status jinja_render(const jinja_template *t, const jinja_var *vars, size_t nvars,
                           char **out, size_t *out_len);

typedef struct jscope jscope;
typedef struct jctx {
    jarena arena;
    jbuf *out;
    jscope *root;
    jscope *cur;
    size_t iterations;
    size_t steps;
    int depth;
    int calls;
    int loopctl; /* 0, or 1 break / 2 continue pending */
    int line;    /* line of the node being evaluated, for errors */
} jctx;

/* Evaluator entry points used by the builtins. */
hearth_status jx_eval(jctx *c, const jnode *n, jv *out);
struct jargs;
hearth_status jx_call_value(jctx *c, jv callee, const struct jargs *a, jv *out);
/* Sets a detail "line N: msg" and returns status. */
hearth_status jx_fail(jctx *c, hearth_status st, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The error for a failed arena allocation (NOMEM or RANGE past the limit). */
hearth_status jx_oom(jctx *c);
/* Charges `n` evaluation steps; RANGE past the limit. */
hearth_status jx_charge(jctx *c, size_t n);
/* A str() of v in the arena. */
hearth_status jx_to_str(jctx *c, jv v, jv *out);

/* Global functions (JV_FUNC aux values). */
enum { JF_RANGE = 1, JF_NAMESPACE, JF_DICT, JF_RAISE, JF_STRFTIME };
/* The global function called `name`, or 0. */
int jb_global(const char *name, size_t nlen);

/* Call-argument bundle for builtins. */
typedef struct jargs {
    const jv *pos;
    size_t npos;
    const char **kwn;
    const size_t *kwl;
    const jv *kwv;
    size_t nkw;
} jargs;

/* Applies filter `name` to v; an unknown filter is HEARTH_ERR_UNSUPPORTED. */
hearth_status jb_filter(jctx *c, const char *name, size_t nlen, jv v, const jargs *a, jv *out);
/* Runs test `name`; *out is the (un-negated) result. */
hearth_status jb_test(jctx *c, const char *name, size_t nlen, jv v, const jargs *a, bool *out);
/* Attribute access obj.name: a dict key, a method, a namespace/loop field;
 * undefined when absent. */
hearth_status jb_getattr(jctx *c, jv obj, const char *name, size_t nlen, jv *out);
/* Subscript obj[key]. */
hearth_status jb_getitem(jctx *c, jv obj, jv key, jv *out);
/* Calls a bound method or global function. */
hearth_status jb_call_builtin(jctx *c, jv callee, const jargs *a, jv *out);
/* Materialises an iterable (list, tuple, dict keys, string chars) as a list;
 * undefined gives an empty list. */
hearth_status jb_iter(jctx *c, jv v, jlist **out);
/* Looks up a keyword argument by name; NULL when absent. */
const jv *jb_kwarg(const jargs *a, const char *name);

#endif
