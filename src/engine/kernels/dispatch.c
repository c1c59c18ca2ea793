/* dispatch.c - selects ISA-specific kernels at run time.
 *
 * Nothing is registered yet: every type uses the scalar reference kernels.
 * The ISA dispatcher (runtime CPU detection, then hearth_kernels_register()
 * calls for AVX2 / AVX-512 / NEON kernels) goes here.
 */
#include "engine/kernels/dispatch.h"

/* Registers nothing yet; see the file comment. Does not block. */
void hearth_kernels_select(void) {}
