/* unicode_tables.h - layout of the generated tables in unicode_tables.c
 * (scripts/gen_unicode_tables.py). Only unicode.c reads them. */
#ifndef HEARTH_UNICODE_TABLES_H
#define HEARTH_UNICODE_TABLES_H

#include <stdint.h>

/* count code points start, start+stride, ... map to cp + delta. */
typedef struct hearth_uc_lower_run {
    uint32_t start;
    uint16_t count;
    uint8_t stride;
    int32_t delta;
} hearth_uc_lower_run;

/* Code points first..last all have `value` as their NFD first code point. */
typedef struct hearth_uc_nfd_range {
    uint32_t first, last, value;
} hearth_uc_nfd_range;

extern const char hearth_unicode_version[];
/* Range i covers [flag_start[i], flag_start[i+1]) (the last one up to
 * 0x10FFFF) and has flags flag_value[i]. flag_start[0] == 0. */
extern const uint32_t hearth_uc_flag_start[];
extern const uint16_t hearth_uc_flag_value[];
extern const unsigned hearth_uc_flag_start_n, hearth_uc_flag_value_n;
extern const hearth_uc_lower_run hearth_uc_lower_runs[];
extern const unsigned hearth_uc_lower_runs_n;
extern const hearth_uc_nfd_range hearth_uc_nfd_ranges[];
extern const unsigned hearth_uc_nfd_ranges_n;

#endif
