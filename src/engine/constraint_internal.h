/* constraint_internal.h - the compiled grammar shared by the JSON Schema
 * compiler (json_schema.c) and the constrained-decoding runtime
 * (constraint.c), plus a test hook.
 *
 * A schema compiles into a graph of nodes, one per JSON value shape (object
 * with listed properties, free-form object, array, string, number, integer,
 * literal set, union). The runtime runs it as a pushdown automaton over
 * bytes: a thread is a stack of frames (one per open value), and a state is
 * a small set of threads (unions are followed in parallel).
 */
#ifndef HEARTH_CONSTRAINT_INTERNAL_H
#define HEARTH_CONSTRAINT_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/constraint.h"
#include "hearth/status.h"

/* Deepest frame stack a thread may use; with one frame per open value this
 * bounds JSON nesting at about 30 levels. */
#define HC_MAX_FRAMES 32
/* mindepth of a node that cannot produce any finite document in bounds. */
#define HC_INF 255
/* Longest string (in characters) when a schema gives no maxLength, and for
 * free-form object keys: generation has to end somewhere. */
#define HC_STR_DEFAULT_MAX 1024u
#define HC_KEY_MAX 128u
/* Digits allowed in the integer / fraction / exponent part of a number:
 * 15 keeps integers exact in int64 and doubles, 2 keeps exponents finite. */
#define HC_INT_DIGITS 15u
#define HC_FRAC_DIGITS 15u
#define HC_EXP_DIGITS 2u
/* Hostile-schema bounds. */
#define HC_MAX_NODES 65000u
#define HC_MAX_SCHEMA_DEPTH 64
#define HC_MAX_LITERAL_BYTES (16u << 20)
#define HC_MAX_LITERAL_LEN 65535u
#define HC_MAX_UNION_ALTS (1u << 20)

typedef enum hc_kind {
    HC_EMPTY = 0, /* matches nothing (false schema, empty enum, ...) */
    HC_DOC,       /* the document: optional leading whitespace, then a = root */
    HC_OBJ,       /* listed properties: a = first prop, b = count, c = first key literal */
    HC_MAP,       /* free-form object: a = key string node, b = value node */
    HC_ARR,       /* a = items node, b = minItems, c = maxItems */
    HC_STR,       /* b = minLength, c = maxLength (characters) */
    HC_NUM,
    HC_INT,
    HC_LIT,       /* literal set: a = first literal, b = count (sorted) */
    HC_UNION,     /* a = first alternative (alts pool), b = count */
    HC_ALIAS      /* a $ref placeholder: a = target (removed after compile) */
} hc_kind;

typedef struct hc_node {
    uint8_t kind;
    uint8_t mindepth; /* frames needed to finish this value from its start */
    uint32_t a, b, c;
} hc_node;

typedef struct hc_prop {
    uint32_t value;    /* node */
    uint32_t next_req; /* index of the first required property >= this one, or count */
    uint8_t required;
} hc_prop;

/* A literal: its compact JSON text in the byte pool, and a tag (the property
 * index for object keys). */
typedef struct hc_lit {
    uint32_t off, len, tag;
} hc_lit;

typedef struct hc_grammar {
    hc_node *nodes;
    uint32_t n_nodes, cap_nodes;
    hc_prop *props;
    uint32_t n_props, cap_props;
    hc_lit *lits;
    uint32_t n_lits, cap_lits;
    uint8_t *bytes;
    uint32_t n_bytes, cap_bytes;
    uint32_t *alts;
    uint32_t n_alts, cap_alts;
    uint32_t doc; /* the HC_DOC node */
} hc_grammar;

/* Compiles `schema` (NULL: any JSON object) into `g` (zeroed by the
 * caller). On failure `g` may hold partial data: free it with
 * hc_grammar_free. Does not block. */
hearth_status hc_compile(const json_t *schema, hc_grammar *g);
void hc_grammar_free(hc_grammar *g);

/* Test hook: copies a state (same constraint) without allocating. */
hearth_status hc_state_copy(hearth_constraint_state *dst, const hearth_constraint_state *src);

#endif
