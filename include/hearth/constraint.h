/* constraint.h - constrained decoding: only tokens that keep the output a
 * prefix of a valid document may be sampled.
 *
 * A constraint is compiled once from a JSON Schema (or "any JSON object" for
 * response_format json_object) against a vocabulary, then each generated
 * sequence gets its own state. Before sampling, hearth_constraint_apply sets
 * the logit of every token that would break the document to -INFINITY
 * (end-of-generation tokens are allowed only when the document is complete);
 * after sampling, hearth_constraint_accept advances the state.
 *
 * Supported schema subset (anything else: HEARTH_ERR_UNSUPPORTED with the
 * keyword named): type (object, array, string, number, integer, boolean,
 * null, and lists of these), properties, required, additionalProperties
 * (false or absent: only listed properties, in schema order), items,
 * minItems/maxItems, enum, const, anyOf/oneOf, $ref to #/$defs or
 * #/definitions, string minLength/maxLength, pattern-free strings.
 */
#ifndef HEARTH_CONSTRAINT_H
#define HEARTH_CONSTRAINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hearth/status.h"
#include "hearth/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hearth_constraint hearth_constraint;

/* Compiles `schema` (NULL: any JSON object) for `v` (borrowed; must outlive
 * the constraint). Blocks while it indexes the vocabulary (milliseconds). */
hearth_status hearth_constraint_new_json(const hearth_vocab *v, const json_t *schema,
                                         hearth_constraint **out);
void hearth_constraint_free(hearth_constraint *c);

typedef struct hearth_constraint_state hearth_constraint_state;

hearth_status hearth_constraint_state_new(const hearth_constraint *c,
                                          hearth_constraint_state **out);
void hearth_constraint_state_free(hearth_constraint_state *st);

/* Masks logits[0..n_vocab) in place. Never allocates on the hot path. */
void hearth_constraint_apply(hearth_constraint_state *st, float *logits, int32_t n_vocab);
/* Advances by one sampled token; HEARTH_ERR_INVALID if it was not allowed. */
hearth_status hearth_constraint_accept(hearth_constraint_state *st, int32_t token);
/* True when the text so far is a complete document. */
bool hearth_constraint_complete(const hearth_constraint_state *st);

#ifdef __cplusplus
}
#endif
#endif
