/* quant_blocks.h - the byte layout of ggml's quantized blocks.
 *
 * These structs are read straight out of mapped GGUF tensor data, so their
 * layout is the file format: field order, sizes and the absence of padding
 * must match ggml exactly. Every struct has only 1- and 2-byte members except
 * block_q8_K (a float first, then bytes, then int16), so none has padding;
 * the _Static_asserts below pin the sizes against the size table in types.c.
 *
 * Conventions used in the comments:
 *  - "fp16" fields are IEEE half floats stored as uint16_t (convert with
 *    hearth_fp16_to_fp32).
 *  - QK = values per block (32 for the legacy types and IQ4_NL, 256 for the
 *    K-quants and IQ4_XS: one "super-block" of 256).
 *  - "element e" is the e-th float of the block in row order.
 *
 * Blocks are not necessarily aligned in memory beyond 1 byte (rows of
 * 18-byte Q4_0 blocks follow each other), so kernels must not assume more
 * alignment than the struct's own, and ggml files are read as they come.
 */
#ifndef HEARTH_QUANT_BLOCKS_H
#define HEARTH_QUANT_BLOCKS_H

#include <stdint.h>

#define HEARTH_QK4_0 32
#define HEARTH_QK4_1 32
#define HEARTH_QK5_0 32
#define HEARTH_QK5_1 32
#define HEARTH_QK8_0 32
#define HEARTH_QK8_1 32
#define HEARTH_QK4_NL 32
#define HEARTH_QK_K 256

/* Q4_0: x = d * (q - 8), q in 0..15. */
typedef struct {
    uint16_t d;       /* fp16 scale */
    uint8_t qs[16];   /* 32 nibbles: byte j holds element j (low nibble) and
                         element j+16 (high nibble) */
} block_q4_0;

/* Q4_1: x = d * q + m, q in 0..15. */
typedef struct {
    uint16_t d;       /* fp16 scale */
    uint16_t m;       /* fp16 offset (the block minimum) */
    uint8_t qs[16];   /* nibbles as in Q4_0: low = element j, high = j+16 */
} block_q4_1;

/* Q5_0: x = d * (q - 16), q in 0..31 (4 low bits in qs, 5th bit in qh). */
typedef struct {
    uint16_t d;       /* fp16 scale */
    uint8_t qh[4];    /* little-endian uint32: bit e is the 5th bit of element e */
    uint8_t qs[16];   /* low 4 bits: low nibble = element j, high = j+16 */
} block_q5_0;

/* Q5_1: x = d * q + m, q in 0..31. */
typedef struct {
    uint16_t d;       /* fp16 scale */
    uint16_t m;       /* fp16 offset (the block minimum) */
    uint8_t qh[4];    /* little-endian uint32: bit e is the 5th bit of element e */
    uint8_t qs[16];   /* low 4 bits as in Q5_0 */
} block_q5_1;

/* Q8_0: x = d * q. Also the activation type for Q4_0/Q5_0/Q8_0/IQ4_NL dots. */
typedef struct {
    uint16_t d;       /* fp16 scale (amax / 127) */
    int8_t qs[32];    /* one signed byte per element, in order */
} block_q8_0;

/* Q8_1: x = d * q; the activation type for Q4_1/Q5_1 dots, whose min term
 * needs the sum of the quants. */
typedef struct {
    uint16_t d;       /* fp16 scale (amax / 127) */
    uint16_t s;       /* fp16 of d * sum(qs), computed with the fp32 d */
    int8_t qs[32];    /* one signed byte per element, in order */
} block_q8_1;

/* Q2_K: 16 sub-blocks of 16; x = d*sc*q - dmin*m, q in 0..3. */
typedef struct {
    uint8_t scales[16]; /* sub-block e/16: low nibble = 4-bit scale sc, high
                           nibble = 4-bit min m */
    uint8_t qs[64];     /* 2-bit quants: in half h (elements 128h..128h+127),
                           byte qs[32h + l] holds element 128h + 32k + l in
                           bits 2k..2k+1, k = 0..3 */
    uint16_t d;         /* fp16 super-block scale for the sub-block scales */
    uint16_t dmin;      /* fp16 super-block scale for the sub-block mins */
} block_q2_K;

/* Q3_K: 16 sub-blocks of 16; x = d * (sc - 32) * (q - 4), q in 0..7. */
typedef struct {
    uint8_t hmask[32];  /* 3rd (high) bit: element 32k + l (k = 0..7,
                           l = 0..31) is bit k of hmask[l]; SET means q >= 4 */
    uint8_t qs[64];     /* low 2 bits, packed as in Q2_K */
    uint8_t scales[12]; /* 16 6-bit scales (stored +32): scale j has its low
                           4 bits in scales[j] (j < 8, low nibble) or
                           scales[j-8] (j >= 8, high nibble) and its high 2
                           bits in scales[8 + j%4] at bits 2*(j/4) */
    uint16_t d;         /* fp16 super-block scale */
} block_q3_K;

/* Q4_K: 8 sub-blocks of 32; x = d*sc*q - dmin*m, q in 0..15. */
typedef struct {
    uint16_t d;         /* fp16 super-block scale for the sub-block scales */
    uint16_t dmin;      /* fp16 super-block scale for the sub-block mins */
    uint8_t scales[12]; /* 8 6-bit scales and 8 6-bit mins: for j < 4,
                           sc = scales[j] & 63, m = scales[j+4] & 63; for
                           j >= 4, sc = (scales[j+4] & 15) | (scales[j-4] >> 6) << 4,
                           m = (scales[j+4] >> 4) | (scales[j] >> 6) << 4 */
    uint8_t qs[128];    /* nibbles: in chunk c (elements 64c..64c+63), byte
                           qs[32c + l] holds element 64c + l (low nibble,
                           sub-block 2c) and 64c + 32 + l (high, sub-block 2c+1) */
} block_q4_K;

/* Q5_K: as Q4_K with a 5th bit; q in 0..31. */
typedef struct {
    uint16_t d;         /* fp16 super-block scale for the sub-block scales */
    uint16_t dmin;      /* fp16 super-block scale for the sub-block mins */
    uint8_t scales[12]; /* 6-bit scales and mins, packed as in Q4_K */
    uint8_t qh[32];     /* 5th bit: element 32k + l (k = sub-block 0..7) is
                           bit k of qh[l] */
    uint8_t qs[128];    /* low 4 bits, packed as in Q4_K */
} block_q5_K;

/* Q6_K: 16 sub-blocks of 16; x = d * sc * (q - 32), q in 0..63. */
typedef struct {
    uint8_t ql[128];    /* low 4 bits: in half h, ql[64h + l] holds element
                           128h + l (low nibble) and 128h + 64 + l (high);
                           ql[64h + 32 + l] holds 128h + 32 + l (low) and
                           128h + 96 + l (high); l = 0..31 */
    uint8_t qh[64];     /* high 2 bits: qh[32h + l] holds elements
                           128h + 32k + l in bits 2k..2k+1, k = 0..3 */
    int8_t scales[16];  /* signed 8-bit scale of sub-block e/16 */
    uint16_t d;         /* fp16 super-block scale */
} block_q6_K;

/* Q8_K: the activation type of the K-quant and IQ4_XS dots. */
typedef struct {
    float d;            /* fp32 scale (max / -127 for the signed max) */
    int8_t qs[256];     /* one signed byte per element, in order */
    int16_t bsums[16];  /* sum of qs over each group of 16 elements (for the
                           min terms of Q2_K/Q4_K/Q5_K) */
} block_q8_K;

/* IQ4_NL: x = d * kvalues_iq4nl[q], q in 0..15. */
typedef struct {
    uint16_t d;       /* fp16 scale */
    uint8_t qs[16];   /* indices: low nibble = element j, high = j+16 */
} block_iq4_nl;

/* IQ4_XS: 8 sub-blocks of 32; x = d * (ls - 32) * kvalues_iq4nl[q]. */
typedef struct {
    uint16_t d;         /* fp16 super-block scale */
    uint16_t scales_h;  /* high 2 bits of the 6-bit ls of sub-block ib at bits 2ib..2ib+1 */
    uint8_t scales_l[4]; /* low 4 bits of ls: sub-block ib in scales_l[ib/2],
                            low nibble for even ib, high for odd */
    uint8_t qs[128];    /* indices: sub-block ib uses qs[16ib..16ib+15]; byte j
                           holds its element j (low nibble) and j+16 (high) */
} block_iq4_xs;

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");
_Static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");

/* The 16 levels of IQ4_NL / IQ4_XS (non-linear, denser near zero). */
extern const int8_t hearth_kvalues_iq4nl[16];

#endif
