/* gemm_x86_body.h - register-tile (gemm) kernels for prefill, included after
 * quant_x86_body.h by quant_avx2.c and quant_avx512.c (the latter defines
 * HX_VNNI, so the symmetric types use vpdpbusd instead of the two-step
 * byte multiply-add).
 *
 * A tile is 4 weight rows x up to 4 tokens. Per 32 values, the 4 rows'
 * unpacked bytes are transposed in 8-byte groups (register k holds bytes
 * 8k..8k+7 of rows 0..3), so one broadcast 8-byte group of a token's
 * activations multiplies all 4 rows at once and the int32 lanes end up per
 * row: each weight block is unpacked once per tile, not once per token.
 *
 * Exactness: every (row, token) integer sum is the exact integer the same
 * level's vec_dot computes, and the float operations applied to it are the
 * vec_dot's, in the same order, lane by lane (quant_x86_body.h documents the
 * orders), so a matmul gives the same bits for any batch size. Rows past
 * nr repeat row 0 and tokens past nt are not computed; neither is stored.
 *
 * Lane layout of a tile result (8 x int32 or float), for tokens (a, b) =
 * (0, 1) or (2, 3): [a.r0, a.r1, b.r0, b.r1 | a.r2, a.r3, b.r2, b.r3].
 */
#ifndef HEARTH_GEMM_X86_BODY_H
#define HEARTH_GEMM_X86_BODY_H

#ifndef HEARTH_QUANT_X86_BODY_H
#error "include quant_x86_body.h first"
#endif

#define HX_INLINE static inline __attribute__((always_inline))
/* Small fixed loops must be unrolled so their vectors stay in registers. */
#define HX_UNROLL _Pragma("GCC unroll 16")

/* 8 bytes at p (any alignment) broadcast to the 4 qwords (one load uop:
 * the memcpy becomes the broadcast's memory operand). */
HX_INLINE __m256i hx_bcast8(const uint8_t *p) {
    long long v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi64x(v);
}

/* The per-token int32 vectors of a tile ([r0, r0, r1, r1, r2, r2, r3, r3]
 * partial sums) folded into the result layout: pair 0 = tokens (0, 1),
 * pair 1 = tokens (2, 3). */
HX_INLINE void hx_fold_pairs(const __m256i v[4], int nt, __m256i *p01, __m256i *p23) {
    *p01 = _mm256_hadd_epi32(v[0], nt > 1 ? v[1] : _mm256_setzero_si256());
    *p23 = nt > 2 ? _mm256_hadd_epi32(v[2], nt > 3 ? v[3] : _mm256_setzero_si256()) : _mm256_setzero_si256();
}

/* Full lane sums of 16 (token, row) vectors v[t][r] of 8 int32, in the
 * result layout. Exact (wrapping adds of exact integers). */
HX_INLINE void hx_sums_layout(const __m256i v[4][4], int nt, __m256i *p01, __m256i *p23) {
    __m128i s[4];
    HX_UNROLL
    for (int t = 0; t < 4; t++) {
        if (t >= nt) {
            s[t] = _mm_setzero_si128();
            continue;
        }
        const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[t][0], v[t][1]), _mm256_hadd_epi32(v[t][2], v[t][3]));
        s[t] = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    }
    *p01 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi64(s[0], s[1])),
                                   _mm_unpackhi_epi64(s[0], s[1]), 1);
    *p23 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi64(s[2], s[3])),
                                   _mm_unpackhi_epi64(s[2], s[3]), 1);
}

/* Row values (4 floats, one per row) and token values (4 floats) spread to
 * the result layout: *x = [x0, x1, x0, x1 | x2, x3, x2, x3], *y01 =
 * [y0, y0, y1, y1 | y0, y0, y1, y1], *y23 likewise with y2, y3. */
HX_INLINE void hx_spread(__m128 xr, __m128 yt, __m256 *x, __m256 *y01, __m256 *y23) {
    const __m256 xx = _mm256_castps128_ps256(xr), yy = _mm256_castps128_ps256(yt);
    *x = _mm256_permutevar8x32_ps(xx, _mm256_setr_epi32(0, 1, 0, 1, 2, 3, 2, 3));
    *y01 = _mm256_permutevar8x32_ps(yy, _mm256_setr_epi32(0, 0, 1, 1, 0, 0, 1, 1));
    *y23 = _mm256_permutevar8x32_ps(yy, _mm256_setr_epi32(2, 2, 3, 3, 2, 2, 3, 3));
}

/* The fp16 values at p0..p3 (any alignment) as 4 floats, one conversion. */
HX_INLINE __m128 hx_h2f4p(const uint8_t *p0, const uint8_t *p1, const uint8_t *p2, const uint8_t *p3) {
    uint16_t h[4];
    memcpy(&h[0], p0, 2);
    memcpy(&h[1], p1, 2);
    memcpy(&h[2], p2, 2);
    memcpy(&h[3], p3, 2);
    const uint64_t v = (uint64_t)h[0] | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 32 | (uint64_t)h[3] << 48;
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
}

/* Stores the result-layout vectors of a tile to s[t * lds + r]. */
HX_INLINE void hx_store_tile(float *s, size_t lds, __m256 f01, __m256 f23, int nr, int nt) {
    float v[16];
    _mm256_storeu_ps(v, f01);
    _mm256_storeu_ps(v + 8, f23);
    /* lane of (t, r): pair p = t / 2, token b = t % 2 */
    HX_UNROLL
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++) s[(size_t)t * lds + (size_t)r] = v[8 * (t / 2) + 4 * (r / 2) + 2 * (t % 2) + r % 2];
}

/* ---- symmetric 32-value types (Q4_0, Q5_0, Q8_0, IQ4_NL) -----------------
 * Float order (shared with HX_DOT_SYM32's vec_dot): block b is added to
 * accumulator b % 4 as fma(d_x * d_y, (float)isum, acc); the result is
 * (acc0 + acc1) + (acc2 + acc3). */

/* Sum of the 4 byte dots u[j] . s[j] per int32 lane; `small` when every
 * 16-bit pair sum of 4 maddubs stays below 32768 (|weights| <= 16). */
HX_INLINE __m256i hx_dot4(const __m256i u[4], const __m256i s[4], int small) {
#ifdef HX_VNNI
    (void)small;
    __m256i acc = HX_DOT_U8S8(_mm256_setzero_si256(), u[0], s[0]);
    acc = HX_DOT_U8S8(acc, u[1], s[1]);
    acc = HX_DOT_U8S8(acc, u[2], s[2]);
    return HX_DOT_U8S8(acc, u[3], s[3]);
#else
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i p0 = _mm256_maddubs_epi16(u[0], s[0]), p1 = _mm256_maddubs_epi16(u[1], s[1]);
    const __m256i p2 = _mm256_maddubs_epi16(u[2], s[2]), p3 = _mm256_maddubs_epi16(u[3], s[3]);
    if (small)
        return _mm256_madd_epi16(_mm256_add_epi16(_mm256_add_epi16(p0, p1), _mm256_add_epi16(p2, p3)), ones);
    return _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(p0, ones), _mm256_madd_epi16(p1, ones)),
                            _mm256_add_epi32(_mm256_madd_epi16(p2, ones), _mm256_madd_epi16(p3, ones)));
#endif
}

/* One block column b of a tile: acc01/acc23 += d_x d_y * isum (fused). */
HX_INLINE void hx_sym_block(const uint8_t *const xr[4], size_t xs, const uint8_t *const yt[4], int64_t b, int k,
                            int nt, __m256 *acc01, __m256 *acc23) {
    const size_t xo = (size_t)b * xs, yo = (size_t)b * sizeof(block_q8_0);
    __m256i t[4], u[4];
    hx_transpose4(hx_unpack_sym(xr[0] + xo, k), hx_unpack_sym(xr[1] + xo, k), hx_unpack_sym(xr[2] + xo, k),
                  hx_unpack_sym(xr[3] + xo, k), t);
    HX_UNROLL
    for (int j = 0; j < 4; j++) u[j] = _mm256_sign_epi8(t[j], t[j]);
    const int small = k == HX_K_Q4_0 || k == HX_K_Q5_0;
    __m256i v[4];
    HX_UNROLL
    for (int tk = 0; tk < 4; tk++) {
        if (tk >= nt) {
            v[tk] = _mm256_setzero_si256();
            continue;
        }
        const uint8_t *q = yt[tk] + yo + offsetof(block_q8_0, qs);
        __m256i s[4];
        HX_UNROLL
        for (int j = 0; j < 4; j++) s[j] = _mm256_sign_epi8(hx_bcast8(q + 8 * j), t[j]);
        v[tk] = hx_dot4(u, s, small);
    }
    __m256i i01, i23;
    hx_fold_pairs(v, nt, &i01, &i23);
    /* scales: d_x of the 4 rows times d_y of the 4 tokens, as the vec_dot */
    const __m128 dx4 = hx_h2f4p(xr[0] + xo, xr[1] + xo, xr[2] + xo, xr[3] + xo);
    const __m128 dy4 = hx_h2f4p(yt[0] + yo, yt[1] + yo, yt[2] + yo, yt[3] + yo);
    __m256 dx, dy01, dy23;
    hx_spread(dx4, dy4, &dx, &dy01, &dy23);
    *acc01 = _mm256_fmadd_ps(_mm256_mul_ps(dx, dy01), _mm256_cvtepi32_ps(i01), *acc01);
    if (nt > 2) *acc23 = _mm256_fmadd_ps(_mm256_mul_ps(dx, dy23), _mm256_cvtepi32_ps(i23), *acc23);
}

/* A whole tile of a symmetric type with compile-time kind and token count. */
HX_INLINE void hx_sym_tile(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                           int nr, int nt, int k) {
    const uint8_t *xr[4], *yt[4];
    HX_UNROLL
    for (int r = 0; r < 4; r++) xr[r] = (const uint8_t *)vx + (r < nr ? (size_t)r * bx : 0);
    HX_UNROLL
    for (int t = 0; t < 4; t++) yt[t] = (const uint8_t *)vy + (t < nt ? (size_t)t * by : 0);
    const size_t xs = hx_sym_size(k);
    const int64_t nb = n / 32;
    /* block b goes to phase b % 4 */
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 c0 = a0, c1 = a0, c2 = a0, c3 = a0;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        hx_sym_block(xr, xs, yt, b, k, nt, &a0, &c0);
        hx_sym_block(xr, xs, yt, b + 1, k, nt, &a1, &c1);
        hx_sym_block(xr, xs, yt, b + 2, k, nt, &a2, &c2);
        hx_sym_block(xr, xs, yt, b + 3, k, nt, &a3, &c3);
    }
    if (b < nb) hx_sym_block(xr, xs, yt, b++, k, nt, &a0, &c0);
    if (b < nb) hx_sym_block(xr, xs, yt, b++, k, nt, &a1, &c1);
    if (b < nb) hx_sym_block(xr, xs, yt, b, k, nt, &a2, &c2);
    const __m256 f01 = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    const __m256 f23 = _mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3));
    hx_store_tile(s, lds, f01, f23, nr, nt);
}

/* Defines a gemm_fn for symmetric kind K, specialised per token count. */
#define HX_GEMM_SYM32(name, K)                                                                                    \
    static void name(int64_t n, float *s, size_t lds, const void *x, size_t bx, const void *y, size_t by, int nr, \
                     int nt) {                                                                                    \
        switch (nt) {                                                                                             \
        case 1: hx_sym_tile(n, s, lds, x, bx, y, by, nr, 1, K); break;                                            \
        case 2: hx_sym_tile(n, s, lds, x, bx, y, by, nr, 2, K); break;                                            \
        case 3: hx_sym_tile(n, s, lds, x, bx, y, by, nr, 3, K); break;                                            \
        default: hx_sym_tile(n, s, lds, x, bx, y, by, nr, 4, K); break;                                           \
        }                                                                                                         \
    }

HX_GEMM_SYM32(hx_gemm_q4_0_q8_0, HX_K_Q4_0)
HX_GEMM_SYM32(hx_gemm_q5_0_q8_0, HX_K_Q5_0)
HX_GEMM_SYM32(hx_gemm_q8_0_q8_0, HX_K_Q8_0)
HX_GEMM_SYM32(hx_gemm_iq4_nl_q8_0, HX_K_IQ4_NL)

/* ---- super-block types (Q4_K, Q5_K, Q6_K) -------------------------------
 * Per super-block, the exact integer isum (and msum) of every (row, token),
 * then the vec_dot's float statements lane by lane, in its order. */

/* 4 broadcast 8-byte groups of y (32 bytes) times the transposed unsigned
 * weights t[0..3], 16-bit pair sums added (callers keep them < 32768). */
HX_INLINE __m256i hx_dot4_u16(const __m256i t[4], const uint8_t *y) {
    const __m256i p0 = _mm256_maddubs_epi16(t[0], hx_bcast8(y)), p1 = _mm256_maddubs_epi16(t[1], hx_bcast8(y + 8));
    const __m256i p2 = _mm256_maddubs_epi16(t[2], hx_bcast8(y + 16)), p3 = _mm256_maddubs_epi16(t[3], hx_bcast8(y + 24));
    return _mm256_add_epi16(_mm256_add_epi16(p0, p1), _mm256_add_epi16(p2, p3));
}

/* Stores v (an int16 value) 4 times at p. */
HX_INLINE void hx_put4x16(int16_t *p, int v) {
    const uint64_t w = (uint64_t)(uint16_t)v * 0x0001000100010001ULL;
    memcpy(p, &w, 8);
}

/* Q4_K (q5 = 0) or Q5_K (q5 = 1) tile. */
HX_INLINE void hx_k45_tile(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                           int nr, int nt, int q5) {
    const uint8_t *xr[4], *yt[4];
    HX_UNROLL
    for (int r = 0; r < 4; r++) xr[r] = (const uint8_t *)vx + (r < nr ? (size_t)r * bx : 0);
    HX_UNROLL
    for (int t = 0; t < 4; t++) yt[t] = (const uint8_t *)vy + (t < nt ? (size_t)t * by : 0);
    const size_t xs = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m1 = _mm256_set1_epi8(1);
    __m256 acc01 = _mm256_setzero_ps(), acc23 = acc01;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        const uint8_t *xb[4];
        const block_q8_K *yb[4];
        HX_UNROLL
        for (int r = 0; r < 4; r++) xb[r] = xr[r] + (size_t)i * xs;
        HX_UNROLL
        for (int t = 0; t < 4; t++) yb[t] = (const block_q8_K *)(const void *)(yt[t] + (size_t)i * sizeof(block_q8_K));
        /* sub-block scales per row as int16 x4 per row; mins as m0,m0,m1,m1.. */
        int16_t sv[8][16] __attribute__((aligned(32))), mv[4][16] __attribute__((aligned(32)));
        HX_UNROLL
        for (int r = 0; r < 4; r++) {
            int sc[8], m[8];
            /* scales sit at the same offset (4) in block_q4_K and block_q5_K */
            hx_k4_scales(xb[r] + offsetof(block_q4_K, scales), sc, m);
            HX_UNROLL
            for (int j = 0; j < 8; j++) {
                hx_put4x16(&sv[j][4 * r], sc[j]);
                mv[r][2 * j] = mv[r][2 * j + 1] = (int16_t)m[j];
            }
        }
        __m256i v[4];
        HX_UNROLL
        for (int t = 0; t < 4; t++) v[t] = _mm256_setzero_si256();
        __m256i qh[4];
        if (q5)
            HX_UNROLL
            for (int r = 0; r < 4; r++) qh[r] = _mm256_loadu_si256((const __m256i *)(const void *)(xb[r] + offsetof(block_q5_K, qh)));
        const size_t qs_off = q5 ? offsetof(block_q5_K, qs) : offsetof(block_q4_K, qs);
        HX_UNROLL
        for (int c = 0; c < 4; c++) {
            __m256i lo[4], hi[4], tl[4], th[4];
            HX_UNROLL
            for (int r = 0; r < 4; r++) {
                const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(xb[r] + qs_off + 32 * c));
                lo[r] = _mm256_and_si256(q, m4);
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if (q5) {
                    lo[r] = _mm256_or_si256(lo[r], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh[r], 2 * c), m1), 4));
                    hi[r] = _mm256_or_si256(hi[r],
                                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh[r], 2 * c + 1), m1), 4));
                }
            }
            hx_transpose4(lo[0], lo[1], lo[2], lo[3], tl);
            hx_transpose4(hi[0], hi[1], hi[2], hi[3], th);
            const __m256i s0 = _mm256_load_si256((const __m256i *)(const void *)sv[2 * c]);
            const __m256i s1 = _mm256_load_si256((const __m256i *)(const void *)sv[2 * c + 1]);
            HX_UNROLL
            for (int t = 0; t < nt; t++) {
                const uint8_t *y = (const uint8_t *)yb[t]->qs + 64 * c;
                const __m256i a = _mm256_madd_epi16(hx_dot4_u16(tl, y), s0);
                const __m256i b = _mm256_madd_epi16(hx_dot4_u16(th, y + 32), s1);
                v[t] = _mm256_add_epi32(v[t], _mm256_add_epi32(a, b));
            }
        }
        __m256i i01, i23, ms01, ms23;
        hx_fold_pairs(v, nt, &i01, &i23);
        __m256i mp[4][4];
        HX_UNROLL
        for (int t = 0; t < 4; t++)
            HX_UNROLL
            for (int r = 0; r < 4; r++)
                mp[t][r] = t < nt ? _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(const void *)mv[r]),
                                                      _mm256_loadu_si256((const __m256i *)(const void *)yb[t]->bsums))
                                  : _mm256_setzero_si256();
        hx_sums_layout(mp, nt, &ms01, &ms23);
        const __m128 xd = hx_h2f4p(xb[0], xb[1], xb[2], xb[3]);
        const __m128 xm = hx_h2f4p(xb[0] + 2, xb[1] + 2, xb[2] + 2, xb[3] + 2);
        const __m128 yd = _mm_setr_ps(yb[0]->d, yb[1]->d, yb[2]->d, yb[3]->d);
        __m256 dx, dy01, dy23, mx, unused0, unused1;
        hx_spread(xd, yd, &dx, &dy01, &dy23);
        hx_spread(xm, yd, &mx, &unused0, &unused1);
        {
            const __m256 d = _mm256_mul_ps(dx, dy01), dmin = _mm256_mul_ps(mx, dy01);
            const __m256 t = _mm256_mul_ps(d, _mm256_cvtepi32_ps(i01));
            const __m256 tm = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(ms01));
            acc01 = _mm256_add_ps(acc01, _mm256_sub_ps(t, tm));
        }
        if (nt > 2) {
            const __m256 d = _mm256_mul_ps(dx, dy23), dmin = _mm256_mul_ps(mx, dy23);
            const __m256 t = _mm256_mul_ps(d, _mm256_cvtepi32_ps(i23));
            const __m256 tm = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(ms23));
            acc23 = _mm256_add_ps(acc23, _mm256_sub_ps(t, tm));
        }
    }
    hx_store_tile(s, lds, acc01, acc23, nr, nt);
}

/* Q6_K tile: unsigned q (0..63) against the quants, per 16-value sub-block
 * times its signed scale, minus 32 * sum(scale * bsum). */
HX_INLINE void hx_q6k_tile(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                           int nr, int nt) {
    const uint8_t *xr[4], *yt[4];
    HX_UNROLL
    for (int r = 0; r < 4; r++) xr[r] = (const uint8_t *)vx + (r < nr ? (size_t)r * bx : 0);
    HX_UNROLL
    for (int t = 0; t < 4; t++) yt[t] = (const uint8_t *)vy + (t < nt ? (size_t)t * by : 0);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    __m256 acc01 = _mm256_setzero_ps(), acc23 = acc01;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        const block_q6_K *xb[4];
        const block_q8_K *yb[4];
        HX_UNROLL
        for (int r = 0; r < 4; r++) xb[r] = (const block_q6_K *)(const void *)(xr[r] + (size_t)i * sizeof(block_q6_K));
        HX_UNROLL
        for (int t = 0; t < 4; t++) yb[t] = (const block_q8_K *)(const void *)(yt[t] + (size_t)i * sizeof(block_q8_K));
        int16_t sv[16][16] __attribute__((aligned(32))), cv[4][16] __attribute__((aligned(32)));
        HX_UNROLL
        for (int r = 0; r < 4; r++)
            HX_UNROLL
            for (int j = 0; j < 16; j++) {
                hx_put4x16(&sv[j][4 * r], xb[r]->scales[j]);
                cv[r][j] = xb[r]->scales[j];
            }
        __m256i v[4];
        HX_UNROLL
        for (int t = 0; t < 4; t++) v[t] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q[4][4]; /* [k][row] */
            HX_UNROLL
            for (int r = 0; r < 4; r++) {
                const __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)(xb[r]->ql + 64 * h));
                const __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(xb[r]->ql + 64 * h + 32));
                const __m256i hv = _mm256_loadu_si256((const __m256i *)(const void *)(xb[r]->qh + 32 * h));
                q[0][r] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hv, m3), 4));
                q[1][r] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 2), m3), 4));
                q[2][r] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 4), m3), 4));
                q[3][r] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 6), m3), 4));
            }
            HX_UNROLL
            for (int k = 0; k < 4; k++) {
                __m256i tq[4];
                hx_transpose4(q[k][0], q[k][1], q[k][2], q[k][3], tq);
                const int j = 8 * h + 2 * k;
                const __m256i s0 = _mm256_load_si256((const __m256i *)(const void *)sv[j]);
                const __m256i s1 = _mm256_load_si256((const __m256i *)(const void *)sv[j + 1]);
                HX_UNROLL
                for (int t = 0; t < nt; t++) {
                    const uint8_t *y = (const uint8_t *)yb[t]->qs + 128 * h + 32 * k;
                    /* 2 pairs of at most 63 * 127 * 2 each: below 32768 */
                    const __m256i pa = _mm256_add_epi16(_mm256_maddubs_epi16(tq[0], hx_bcast8(y)),
                                                        _mm256_maddubs_epi16(tq[1], hx_bcast8(y + 8)));
                    const __m256i pb = _mm256_add_epi16(_mm256_maddubs_epi16(tq[2], hx_bcast8(y + 16)),
                                                        _mm256_maddubs_epi16(tq[3], hx_bcast8(y + 24)));
                    v[t] = _mm256_add_epi32(v[t], _mm256_add_epi32(_mm256_madd_epi16(pa, s0), _mm256_madd_epi16(pb, s1)));
                }
            }
        }
        __m256i i01, i23, c01, c23;
        hx_fold_pairs(v, nt, &i01, &i23);
        __m256i cp[4][4];
        HX_UNROLL
        for (int t = 0; t < 4; t++)
            HX_UNROLL
            for (int r = 0; r < 4; r++)
                cp[t][r] = t < nt ? _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(const void *)cv[r]),
                                                      _mm256_loadu_si256((const __m256i *)(const void *)yb[t]->bsums))
                                  : _mm256_setzero_si256();
        hx_sums_layout(cp, nt, &c01, &c23);
        i01 = _mm256_sub_epi32(i01, _mm256_slli_epi32(c01, 5));
        i23 = _mm256_sub_epi32(i23, _mm256_slli_epi32(c23, 5));
        const __m128 xd = hx_h2f4p((const uint8_t *)&xb[0]->d, (const uint8_t *)&xb[1]->d, (const uint8_t *)&xb[2]->d,
                                   (const uint8_t *)&xb[3]->d);
        const __m128 yd = _mm_setr_ps(yb[0]->d, yb[1]->d, yb[2]->d, yb[3]->d);
        __m256 dx, dy01, dy23;
        hx_spread(xd, yd, &dx, &dy01, &dy23);
        {
            const __m256 d = _mm256_mul_ps(dx, dy01);
            acc01 = _mm256_add_ps(acc01, _mm256_mul_ps(d, _mm256_cvtepi32_ps(i01)));
        }
        if (nt > 2) {
            const __m256 d = _mm256_mul_ps(dx, dy23);
            acc23 = _mm256_add_ps(acc23, _mm256_mul_ps(d, _mm256_cvtepi32_ps(i23)));
        }
    }
    hx_store_tile(s, lds, acc01, acc23, nr, nt);
}

/* Defines a gemm_fn from a tile function, specialised per token count. */
#define HX_GEMM_NT(name, call)                                                                                    \
    static void name(int64_t n, float *s, size_t lds, const void *x, size_t bx, const void *y, size_t by, int nr, \
                     int nt) {                                                                                    \
        switch (nt) {                                                                                             \
        case 1: call(n, s, lds, x, bx, y, by, nr, 1); break;                                                      \
        case 2: call(n, s, lds, x, bx, y, by, nr, 2); break;                                                      \
        case 3: call(n, s, lds, x, bx, y, by, nr, 3); break;                                                      \
        default: call(n, s, lds, x, bx, y, by, nr, 4); break;                                                     \
        }                                                                                                         \
    }

#define HX_Q4K(n, s, lds, x, bx, y, by, nr, nt) hx_k45_tile(n, s, lds, x, bx, y, by, nr, nt, 0)
#define HX_Q5K(n, s, lds, x, bx, y, by, nr, nt) hx_k45_tile(n, s, lds, x, bx, y, by, nr, nt, 1)
HX_GEMM_NT(hx_gemm_q4_K_q8_K, HX_Q4K)
HX_GEMM_NT(hx_gemm_q5_K_q8_K, HX_Q5K)
HX_GEMM_NT(hx_gemm_q6_K_q8_K, hx_q6k_tile)

/* ---- float weights (F32, F16, BF16) -------------------------------------
 * A tile runs hx_fdot_rows (quant_x86_body.h) per row for up to 3 tokens at
 * once (12 accumulators), so each dot is the vec_dot's, statement for
 * statement, and the row is loaded once per 3 tokens. */
HX_INLINE void hx_gemm_float(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                             int nr, int nt, int k) {
    for (int r = 0; r < nr; r++) {
        const void *x = (const uint8_t *)vx + (size_t)r * bx;
        for (int t0 = 0; t0 < nt; t0 += 3) {
            const int m = nt - t0 < 3 ? nt - t0 : 3;
            const void *y[3];
            for (int t = 0; t < 3; t++) y[t] = (const uint8_t *)vy + (size_t)(t0 + (t < m ? t : 0)) * by;
            float o[3];
            if (m == 3)
                hx_fdot_rows(n, x, y, 3, k, o);
            else if (m == 2)
                hx_fdot_rows(n, x, y, 2, k, o);
            else
                hx_fdot_rows(n, x, y, 1, k, o);
            for (int t = 0; t < m; t++) s[(size_t)(t0 + t) * lds + (size_t)r] = o[t];
        }
    }
}

#define HX_GEMM_FLOAT(name, K)                                                                                  \
    static void name(int64_t n, float *s, size_t lds, const void *x, size_t bx, const void *y, size_t by, int nr, \
                     int nt) {                                                                                  \
        hx_gemm_float(n, s, lds, x, bx, y, by, nr, nt, K);                                                      \
    }
HX_GEMM_FLOAT(hx_gemm_f32, HX_F_F32)
HX_GEMM_FLOAT(hx_gemm_f16, HX_F_F16)
HX_GEMM_FLOAT(hx_gemm_bf16, HX_F_BF16)

/* The float tiles, listed apart from the quantized ones: a level whose float
 * vec_dots are not the body's (AVX-512 overrides them) must not list them.
 * Returns how many entries it wrote. Does not block. */
static size_t hx_gemm_float_list(hearth_gemm_entry *out, size_t cap) {
    const hearth_gemm_entry all[] = {
        {HEARTH_TYPE_F32, hx_gemm_f32},
        {HEARTH_TYPE_F16, hx_gemm_f16},
        {HEARTH_TYPE_BF16, hx_gemm_bf16},
    };
    size_t n = 0;
    for (; n < sizeof all / sizeof all[0] && n < cap; n++) out[n] = all[n];
    return n;
}

/* The tile kernels this body provides, for the including file's list. */
static size_t hx_gemm_body_list(hearth_gemm_entry *out, size_t cap) {
    const hearth_gemm_entry all[] = {
        {HEARTH_TYPE_Q4_0, hx_gemm_q4_0_q8_0},
        {HEARTH_TYPE_Q5_0, hx_gemm_q5_0_q8_0},
        {HEARTH_TYPE_Q8_0, hx_gemm_q8_0_q8_0},
        {HEARTH_TYPE_IQ4_NL, hx_gemm_iq4_nl_q8_0},
        {HEARTH_TYPE_Q4_K, hx_gemm_q4_K_q8_K},
        {HEARTH_TYPE_Q5_K, hx_gemm_q5_K_q8_K},
        {HEARTH_TYPE_Q6_K, hx_gemm_q6_K_q8_K},
    };
    size_t n = 0;
    for (; n < sizeof all / sizeof all[0] && n < cap; n++) out[n] = all[n];
    return n;
}

/* The quantized tiles, then the float ones: the whole list of a level that
 * adds none of its own. */
static inline size_t hx_gemm_full_list(hearth_gemm_entry *out, size_t cap) {
    const size_t n = hx_gemm_body_list(out, cap);
    return n + hx_gemm_float_list(out + n, cap - n);
}

#endif
