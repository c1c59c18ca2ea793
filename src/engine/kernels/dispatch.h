/* dispatch.h - how ISA-specific kernels replace the scalar reference.
 *
 * hearth_type_get() returns a table that starts as a copy of the reference
 * table (hearth_type_get_ref()). On first use, inside a pthread_once init,
 * quant.c calls hearth_kernels_select(), which detects the CPU and calls
 * the register functions below for each kernel it has a faster version of.
 * After that the table is read-only, so lookups need no locking.
 *
 * A registered kernel must compute the same function as the reference with
 * the same signature and the same vec_dot_type (activation layout); tests
 * compare the two tables.
 */
#ifndef HEARTH_KERNELS_DISPATCH_H
#define HEARTH_KERNELS_DISPATCH_H

#include <stdint.h>

#include "hearth/quant.h"

/* Replaces the vec_dot and/or to_float kernel of `type` in the table that
 * hearth_type_get() returns; a NULL pointer leaves that kernel as it is.
 * Only valid from within hearth_kernels_select() (it is not synchronised);
 * ignores unknown types and types the reference cannot compute. */
void hearth_kernels_register(uint32_t type, hearth_vec_dot_fn vec_dot, hearth_to_float_fn to_float);

/* Same for the from_float kernel (the activation quantizer of Q8_0, Q8_1
 * and Q8_K is on the hot path of every quantized matmul). */
void hearth_kernels_register_from_float(uint32_t type, hearth_from_float_fn from_float);

/* Chooses this CPU's kernels by calling the register functions. Called
 * exactly once, from the pthread_once init of the traits tables. Defined in
 * kernels/dispatch.c. Does not block. */
void hearth_kernels_select(void);

#endif
