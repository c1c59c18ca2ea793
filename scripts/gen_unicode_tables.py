#!/usr/bin/env python3
"""Generates src/engine/unicode_tables.c from the Unicode Character Database.

Usage:
    python3 scripts/gen_unicode_tables.py [UCD_DIR] > src/engine/unicode_tables.c

UCD_DIR defaults to /usr/share/unicode (Debian package unicode-data) and must
hold UnicodeData.txt and PropList.txt. Standard library only.

Tables produced (all sorted, binary-searched by src/engine/unicode.c):
  * flag ranges: every code point 0..0x10FFFF belongs to one range with one
    HEARTH_UC_* flag set (general category class, White_Space, Ll/Lu);
  * lowercase runs: (start, count, stride, delta) groups of the simple
    lowercase mapping (UnicodeData field 13);
  * NFD-first ranges: (first, last, value) where value is the first code point
    of the full canonical decomposition (applied recursively, Hangul syllables
    decomposed algorithmically), as Python's unicodedata.normalize('NFD', c)[0]
    gives it, which is what llama.cpp's tables hold.
"""
import os
import re
import sys

# Must match the enum in src/engine/unicode.h.
UC_UNDEFINED = 1 << 0
UC_NUMBER = 1 << 1
UC_LETTER = 1 << 2
UC_SEPARATOR = 1 << 3
UC_MARK = 1 << 4
UC_PUNCTUATION = 1 << 5
UC_SYMBOL = 1 << 6
UC_CONTROL = 1 << 7
UC_WHITESPACE = 1 << 8
UC_LOWERCASE = 1 << 9
UC_UPPERCASE = 1 << 10

MAX_CP = 0x110000

CAT_FLAG = {
    "N": UC_NUMBER, "L": UC_LETTER, "Z": UC_SEPARATOR, "M": UC_MARK,
    "P": UC_PUNCTUATION, "S": UC_SYMBOL, "C": UC_CONTROL,
}

# Hangul syllable decomposition constants (Unicode chapter 3.12).
S_BASE, L_BASE, S_COUNT, N_COUNT = 0xAC00, 0x1100, 11172, 588


def read_unicode_data(path):
    """Returns (category[cp], lower{cp: lo}, decomp{cp: [cps]}) for assigned cps."""
    cat = [None] * MAX_CP
    lower = {}
    decomp = {}
    range_start = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) < 15:
                continue
            cp = int(fields[0], 16)
            name, gc = fields[1], fields[2]
            if name.endswith(", First>"):
                range_start = cp
                continue
            if name.endswith(", Last>"):
                for c in range(range_start, cp + 1):
                    cat[c] = gc
                range_start = None
                continue
            cat[cp] = gc
            if fields[13]:
                lower[cp] = int(fields[13], 16)
            d = fields[5]
            if d and not d.startswith("<"):
                decomp[cp] = [int(x, 16) for x in d.split()]
    return cat, lower, decomp


def read_white_space(path):
    ws = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            rng, prop = [x.strip() for x in line.split(";")]
            if prop != "White_Space":
                continue
            if ".." in rng:
                a, b = rng.split("..")
                ws.update(range(int(a, 16), int(b, 16) + 1))
            else:
                ws.add(int(rng, 16))
    return ws


def unicode_version(ucd_dir):
    """Reads the version from PropList.txt's first line ("# PropList-15.0.0.txt")."""
    with open(os.path.join(ucd_dir, "PropList.txt"), encoding="utf-8") as f:
        m = re.search(r"PropList-([0-9.]+)\.txt", f.readline())
    return m.group(1) if m else "unknown"


def nfd_first(cp, decomp):
    if S_BASE <= cp < S_BASE + S_COUNT:
        return L_BASE + (cp - S_BASE) // N_COUNT
    while cp in decomp:
        cp = decomp[cp][0]
    return cp


def main():
    ucd = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    cat, lower, decomp = read_unicode_data(os.path.join(ucd, "UnicodeData.txt"))
    ws = read_white_space(os.path.join(ucd, "PropList.txt"))
    version = unicode_version(ucd)

    flags = [0] * MAX_CP
    for cp in range(MAX_CP):
        gc = cat[cp]
        # Unassigned (Cn) code points are not listed in UnicodeData.txt.
        f = UC_UNDEFINED if gc is None else CAT_FLAG[gc[0]]
        if gc == "Ll":
            f |= UC_LOWERCASE
        elif gc == "Lu":
            f |= UC_UPPERCASE
        if cp in ws:
            f |= UC_WHITESPACE
        flags[cp] = f

    flag_ranges = []
    for cp in range(MAX_CP):
        if not flag_ranges or flags[cp] != flag_ranges[-1][1]:
            flag_ranges.append((cp, flags[cp]))

    # Lowercase runs: consecutive mappings with a constant stride and delta.
    low_runs = []  # [start, count, stride, delta]
    for cp in sorted(lower):
        delta = lower[cp] - cp
        if low_runs:
            r = low_runs[-1]
            last = r[0] + (r[1] - 1) * r[2]
            if r[3] == delta and (r[1] == 1 or cp - last == r[2]) and cp - last <= 255:
                if r[1] == 1:
                    r[2] = cp - last
                r[1] += 1
                continue
        low_runs.append([cp, 1, 1, delta])

    nfd_ranges = []  # [first, last, value]
    for cp in range(MAX_CP):
        if cat[cp] is None:
            continue
        v = nfd_first(cp, decomp)
        if v == cp:
            continue
        if nfd_ranges and nfd_ranges[-1][1] == cp - 1 and nfd_ranges[-1][2] == v:
            nfd_ranges[-1][1] = cp
        else:
            nfd_ranges.append([cp, cp, v])

    out = sys.stdout
    out.write("/* unicode_tables.c - GENERATED by scripts/gen_unicode_tables.py from the\n")
    out.write(" * Unicode Character Database %s (UnicodeData.txt, PropList.txt of\n" % version)
    out.write(" * Debian's unicode-data package). Do not edit; rerun the script:\n")
    out.write(" *   python3 scripts/gen_unicode_tables.py > src/engine/unicode_tables.c */\n")
    out.write('#include "engine/unicode_tables.h"\n\n')
    out.write('const char hearth_unicode_version[] = "%s";\n\n' % version)

    def emit(name, ctype, rows, per_line):
        out.write("const %s %s[%d] = {\n" % (ctype, name, len(rows)))
        for i in range(0, len(rows), per_line):
            out.write("".join(rows[i:i + per_line]) + "\n")
        out.write("};\n")
        out.write("const unsigned %s_n = %d;\n\n" % (name, len(rows)))

    emit("hearth_uc_flag_start", "uint32_t",
         ["0x%X," % s for s, _ in flag_ranges], 12)
    emit("hearth_uc_flag_value", "uint16_t",
         ["0x%X," % f for _, f in flag_ranges], 16)
    emit("hearth_uc_lower_runs", "hearth_uc_lower_run",
         ["{0x%X,%d,%d,%d}," % tuple(r) for r in low_runs], 6)
    emit("hearth_uc_nfd_ranges", "hearth_uc_nfd_range",
         ["{0x%X,0x%X,0x%X}," % tuple(r) for r in nfd_ranges], 5)


if __name__ == "__main__":
    main()
