"""C writer for microcontrollers: one header with the integer arrays, the scales and a reference
step function (``spikefa_model.h``, C99, no allocation, no floating point in the step), plus a
stdin runner (``spikefa_main.c``) that the verification compiles with the system C compiler.

The step is `spikefa.export.arith.int_lif_step` written out per layer with the layer's constants
(per-neuron decay values in ``spikefa_decayL[]`` and thresholds in ``spikefa_thetaL[]`` where β or θ
is per neuron; a current-based layer keeps its synaptic current in ``cL[]`` and steps
`spikefa.export.arith.int_syn_step` before the membrane):
the synaptic sum adds the weight mantissas of the inputs that spiked, shifts by the layer's weight
exponent, adds the bias; decays use an explicit floor / toward-zero division by 2^k (C's ``>>`` on
negative numbers is implementation-defined) and the state saturates (or wraps) to the profile's bits.

A convolutional layer runs its synapse's operations with explicit loops into int64 buffers:
convolution (stride, zero padding, groups; the bias added to every output position), sum pools
(folded average pools), max pools over the valid window positions, flatten (a copy; the layout is
already row-major C·H·W); each neuron then takes its channel's threshold.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch

from spikefa.errors import SpikefaError
from spikefa.export.arith import DecayCode
from spikefa.export.network import Op
from spikefa.export.quantize import QLayer, QuantizedNet
from spikefa.export.simulate import run_int
from spikefa.export.writers import Verification, count_mismatches

HEADER, RUNNER = "spikefa_model.h", "spikefa_main.c"


def _ctype(values: torch.Tensor, bits: int | None = None) -> str:
    if bits is not None:
        return "int8_t" if bits <= 8 else "int16_t" if bits <= 16 else "int32_t"
    big = int(values.abs().max()) if values.numel() else 0
    return "int32_t" if big < 2**31 else "int64_t"


def _array(ctype: str, name: str, values: torch.Tensor, per_line: int = 16) -> str:
    flat = [str(int(v)) if "int" in ctype else repr(float(v)) + "f" for v in values.flatten().tolist()]
    lines = [", ".join(flat[i:i + per_line]) for i in range(0, len(flat), per_line)]
    return f"static const {ctype} {name}[{len(flat)}] = {{\n    " + ",\n    ".join(lines) + "\n};\n"


def _decay_expr(c: DecayCode, u: str = "u", values: str | None = None) -> str:
    """D(u) in C; `values` names a per-neuron array of code values indexed by i (else the code's one)."""
    value = f"{values}[i]" if values else f"{c.value}"
    if c.kind == "none":
        return u
    if c.kind == "shift":
        return f"{u} - spikefa_floor_shift({u}, {value})"
    prod = f"{u} * {value}LL" if not values else f"{u} * (int64_t){value}"
    if c.rounding == "toward-zero":
        return f"spikefa_trunc_shift({prod}, {c.bits})"
    if c.rounding == "nearest":
        return f"spikefa_floor_shift({prod} + {2 ** (c.bits - 1)}LL, {c.bits})"
    return f"spikefa_floor_shift({prod}, {c.bits})"


def _neuron_code(i: int, q: QLayer, theta_index: str) -> str:
    """The neuron update of element i from its current ``cur``: the synaptic current first for a
    current-based layer, then decay, reset, saturation and the spike."""
    update = {"subtract": "d + cur - (fired ? th : 0)", "zero": "(fired ? 0 : d) + cur"}.get(q.reset, "d + cur")
    syn = ""
    if q.syn_decay is not None:
        syn = (f"        const int64_t c = s->c{i}[i];\n"
               f"        const int64_t j = spikefa_saturate({_decay_expr(q.syn_decay, 'c')} + cur0);\n"
               f"        s->c{i}[i] = (spikefa_state_int)j;\n"
               "        const int64_t cur = j;\n")
    values = f"spikefa_decay{i}" if q.decay_values is not None else None
    return f"""{syn}        const int64_t u = s->v{i}[i];
        const int64_t th = spikefa_theta{i}[{theta_index}];
        const int fired = u > th;
        const int64_t d = {_decay_expr(q.decay, "u", values)};
        const int64_t v = spikefa_saturate({update});
        s->v{i}[i] = (spikefa_state_int)v;
        s->s{i}[i] = (uint8_t)(v > th);
"""


def _layer_code(i: int, q: QLayer) -> str:
    n, fan_in = q.weight.shape
    cur = "cur0" if q.syn_decay is not None else "cur"
    return f"""
static void spikefa_layer{i}(spikefa_state_t *s, const uint8_t *x) {{
    for (int i = 0; i < {n}; ++i) {{
        const {_ctype(q.weight, 8 if q.weight.abs().max() < 128 else 16)} *row = spikefa_w{i} + (long)i * {fan_in};
        int64_t acc = 0;
        for (int j = 0; j < {fan_in}; ++j) {{
            if (x[j]) acc += row[j];
        }}
        const int64_t {cur} = acc * {2 ** q.weight_shift}LL + spikefa_b{i}[i];
{_neuron_code(i, q, "i")}    }}
}}
"""


def _conv_c(i: int, q: QLayer, op: Op, src: str, dst: str) -> str:
    (cin, h, w), (cout, oh, ow) = op.in_shape, op.out_shape
    (kh, kw), (sh, sw), (ph, pw), g = op.kernel, op.stride, op.padding, op.groups
    cin_g, cout_g = cin // g, cout // g
    return f"""    for (int co = 0; co < {cout}; ++co) {{
        const int grp = co / {cout_g};
        for (int oy = 0; oy < {oh}; ++oy) for (int ox = 0; ox < {ow}; ++ox) {{
            int64_t acc = 0;
            for (int ci = 0; ci < {cin_g}; ++ci) for (int ky = 0; ky < {kh}; ++ky) {{
                const int iy = oy * {sh} - {ph} + ky;
                if (iy < 0 || iy >= {h}) continue;
                for (int kx = 0; kx < {kw}; ++kx) {{
                    const int ix = ox * {sw} - {pw} + kx;
                    if (ix < 0 || ix >= {w}) continue;
                    acc += {src}[((grp * {cin_g} + ci) * {h} + iy) * {w} + ix]
                           * (int64_t)spikefa_w{i}[((co * {cin_g} + ci) * {kh} + ky) * {kw} + kx];
                }}
            }}
            {dst}[(co * {oh} + oy) * {ow} + ox] = acc * {2 ** q.weight_shift}LL + spikefa_b{i}[co];
        }}
    }}
"""


def _dense_c(i: int, q: QLayer, op: Op, src: str, dst: str) -> str:
    (n_in,), (n_out,) = op.in_shape, op.out_shape
    return f"""    for (int o = 0; o < {n_out}; ++o) {{
        int64_t acc = 0;
        for (int j = 0; j < {n_in}; ++j) acc += {src}[j] * (int64_t)spikefa_w{i}[(long)o * {n_in} + j];
        {dst}[o] = acc * {2 ** q.weight_shift}LL + spikefa_b{i}[o];
    }}
"""


def _pool_c(op: Op, src: str, dst: str, is_max: bool) -> str:
    (c, h, w), (_, oh, ow) = op.in_shape, op.out_shape
    (kh, kw), (sh, sw), (ph, pw) = op.kernel, op.stride, op.padding
    take = "if (!seen || v > acc) acc = v;\n                    seen = 1;" if is_max else "acc += v;"
    return f"""    for (int ch = 0; ch < {c}; ++ch) for (int oy = 0; oy < {oh}; ++oy) for (int ox = 0; ox < {ow}; ++ox) {{
        int64_t acc = 0;
        int seen = 0;
        for (int ky = 0; ky < {kh}; ++ky) {{
            const int iy = oy * {sh} - {ph} + ky;
            if (iy < 0 || iy >= {h}) continue;
            for (int kx = 0; kx < {kw}; ++kx) {{
                const int ix = ox * {sw} - {pw} + kx;
                if (ix < 0 || ix >= {w}) continue;
                {{
                    const int64_t v = {src}[(ch * {h} + iy) * {w} + ix];
                    {take}
                }}
            }}
        }}
        (void)seen;
        {dst}[(ch * {oh} + oy) * {ow} + ox] = acc;
    }}
"""


C_OPS = {
    "flatten": lambda i, q, op, src, dst: f"    memcpy({dst}, {src}, sizeof {dst});\n",
    "dense": _dense_c, "conv2d": _conv_c,
    "sumpool2d": lambda i, q, op, src, dst: _pool_c(op, src, dst, False),
    "avgpool2d": lambda i, q, op, src, dst: _pool_c(op, src, dst, False),
    "maxpool2d": lambda i, q, op, src, dst: _pool_c(op, src, dst, True),
}


def _ops_layer_code(i: int, q: QLayer) -> str:
    """A layer whose synapse is a chain of operations (convolution, pools, flatten, dense)."""
    n_in = q.in_features
    bufs = [f"static int64_t spikefa_l{i}_in[{n_in}];\n"]
    body = [f"    for (int j = 0; j < {n_in}; ++j) spikefa_l{i}_in[j] = x[j];\n"]
    src = f"spikefa_l{i}_in"
    for j, op in enumerate(q.ops):
        dst = f"spikefa_l{i}_o{j}"
        n = 1
        for d in op.out_shape:
            n *= d
        bufs.append(f"static int64_t {dst}[{n}];\n")
        body.append(f"    /* {op.kind} {list(op.in_shape)} -> {list(op.out_shape)} */\n")
        body.append(C_OPS[op.kind](i, q, op, src, dst))
        src = dst
    per = q.size // q.channels
    theta_index = "i" if q.threshold.numel() == q.size else f"i / {per}"
    return "".join(bufs) + f"""
static void spikefa_layer{i}(spikefa_state_t *s, const uint8_t *x) {{
{"".join(body)}    for (int i = 0; i < {q.size}; ++i) {{
        const int64_t {"cur0" if q.syn_decay is not None else "cur"} = {src}[i];
{_neuron_code(i, q, theta_index)}    }}
}}
"""


def _plain_dense(q: QLayer) -> bool:
    return q.plain_dense


def _helpers(qnet: QuantizedNet) -> str:
    half = 2 ** (qnet.state_bits - 1)
    sat = (f"int64_t m = (a + {half}LL) % {2 * half}LL;\n    if (m < 0) m += {2 * half}LL;\n    return m - {half}LL;"
           if qnet.overflow == "wrap" else
           f"return a > {half - 1}LL ? {half - 1}LL : (a < -{half - 1}LL ? -{half - 1}LL : a);")
    return f"""
/* floor(a / 2^k) and trunc(a / 2^k): explicit, since >> on negative values is implementation-defined */
static inline int64_t spikefa_floor_shift(int64_t a, int k) {{
    const int64_t d = (int64_t)1 << k;
    const int64_t q = a / d;
    return (a % d != 0 && a < 0) ? q - 1 : q;
}}

static inline int64_t spikefa_trunc_shift(int64_t a, int k) {{ return a / ((int64_t)1 << k); }}

/* {qnet.overflow} to {qnet.state_bits}-bit state */
static inline int64_t spikefa_saturate(int64_t a) {{
    {sat}
}}
"""


def header(qnet: QuantizedNet, meta: dict[str, Any] | None = None) -> str:
    """The text of ``spikefa_model.h``."""
    layers = qnet.layers
    state_c = "int32_t" if qnet.state_bits <= 32 else "int64_t"
    sizes = [q.size for q in layers]
    out = [f"/* spikefa_model.h: generated by spikefa export.\n * profile {qnet.profile.name}, {qnet.bits}-bit weights, "
           f"{qnet.state_bits}-bit state ({qnet.overflow}), dt = {qnet.dt:g} ms.\n"
           " * Per layer, one state unit is worth spikefa_unitL[i] in real units (weight, bias, threshold\n"
           " * and state share it); a weight is spikefa_wL[i][j] << SPIKEFA_LL_WSHIFT state units.\n"
           f" * Run: spikefa_reset(&s); then per time step spikefa_step(&s, in, out) with in[{qnet.in_features}]"
           f" and out[{sizes[-1]}] 0/1 bytes.\n */",
           "#ifndef SPIKEFA_MODEL_H\n#define SPIKEFA_MODEL_H\n\n#include <stdint.h>\n#include <string.h>\n",
           f"#define SPIKEFA_N_LAYERS {len(layers)}\n#define SPIKEFA_N_INPUTS {qnet.in_features}\n"
           f"#define SPIKEFA_N_OUTPUTS {sizes[-1]}\n"]
    out += [f"#define SPIKEFA_L{i}_SIZE {n}\n#define SPIKEFA_L{i}_WSHIFT {q.weight_shift}\n" for i, (q, n) in enumerate(zip(layers, sizes))]
    out.append(f"\ntypedef {state_c} spikefa_state_int;\n\ntypedef struct {{\n" +
               "".join(f"    spikefa_state_int v{i}[{n}];\n    uint8_t s{i}[{n}];\n" +
                       (f"    spikefa_state_int c{i}[{n}];\n" if q.syn_decay is not None else "")
                       for i, (q, n) in enumerate(zip(layers, sizes))) +
               "} spikefa_state_t;\n")
    for i, q in enumerate(layers):
        if q.decay_values is None:
            out.append(f"/* layer {i}: reset {q.reset}, decay {q.decay.kind} {q.decay.value} (beta {q.decay.beta:.6g}) */")
        else:
            out.append(f"/* layer {i}: reset {q.reset}, decay {q.decay.kind} per neuron (spikefa_decay{i}) */")
            out.append(_array(_ctype(q.decay_values), f"spikefa_decay{i}", q.decay_values))
        if q.syn_decay is not None:
            c = q.syn_decay
            out.append(f"/* layer {i}: current-based, synaptic current c{i} decays by {c.kind} {c.value} "
                       f"(alpha {c.beta:.6g}) */")
        out.append(_array(_ctype(q.weight, 8 if q.weight.abs().max() < 128 else 16), f"spikefa_w{i}", q.weight))
        out.append(_array(_ctype(q.bias), f"spikefa_b{i}", q.bias))
        out.append(_array(_ctype(q.threshold), f"spikefa_theta{i}", q.threshold))
        out.append(_array("float", f"spikefa_unit{i}", q.unit))
    out.append(_helpers(qnet))
    out += [_layer_code(i, q) if _plain_dense(q) else _ops_layer_code(i, q) for i, q in enumerate(layers)]
    steps = "".join(f"    spikefa_layer{i}(s, {'in' if i == 0 else f's->s{i - 1}'});\n" for i in range(len(layers)))
    out.append(f"""
static inline void spikefa_reset(spikefa_state_t *s) {{ memset(s, 0, sizeof *s); }}

/* one time step: input spikes in[SPIKEFA_N_INPUTS] -> output spikes out[SPIKEFA_N_OUTPUTS] */
static inline void spikefa_step(spikefa_state_t *s, const uint8_t *in, uint8_t *out) {{
{steps}    memcpy(out, s->s{len(layers) - 1}, SPIKEFA_N_OUTPUTS);
}}

#endif /* SPIKEFA_MODEL_H */
""")
    return "\n".join(out)


def runner(qnet: QuantizedNet) -> str:
    """``spikefa_main.c``: reads "T B N" and T·B·N 0/1 digits from stdin, prints every layer's
    spikes per (t, b) as one line of space-separated 0/1 strings."""
    prints = "".join(f'            for (int i = 0; i < SPIKEFA_L{i}_SIZE; ++i) putchar(\'0\' + st[b].s{i}[i]);\n'
                     f"            putchar({repr(chr(10)) if i == len(qnet.layers) - 1 else repr(' ')});\n"
                     for i in range(len(qnet.layers)))
    return f"""/* spikefa_main.c: reference runner for spikefa_model.h (generated).
 *
 * Build:  cc -std=c99 -O2 -o spikefa_main spikefa_main.c
 * Input (stdin):  "T B N", then T*B*N digits 0/1, time-major: for each step t, for each sample b,
 *                 its N = SPIKEFA_N_INPUTS input spikes (anything but 0/1 between digits is skipped).
 * Output (stdout): for each step t and sample b, one line: every layer's spikes as a string of 0/1,
 *                 layers separated by a space (the last string is the output layer).
 * Exit status: 0 done; 2 a bad header (N must be SPIKEFA_N_INPUTS); 3 out of memory; 4 input ended early.
 */
#include <stdio.h>
#include <stdlib.h>
#include "spikefa_model.h"

static int next_bit(void) {{
    int c;
    while ((c = getchar()) != EOF) if (c == '0' || c == '1') return c - '0';
    return -1;
}}

int main(void) {{
    long T, B, N;
    if (scanf("%ld %ld %ld", &T, &B, &N) != 3 || T < 0 || B < 1 || N != SPIKEFA_N_INPUTS) {{
        fprintf(stderr, "spikefa_main: expected a header \\"T B N\\" with B >= 1 and N = %d inputs\\n",
                SPIKEFA_N_INPUTS);
        return 2;
    }}
    spikefa_state_t *st = calloc((size_t)B, sizeof *st);
    uint8_t in[SPIKEFA_N_INPUTS], out[SPIKEFA_N_OUTPUTS];
    if (!st) {{
        fprintf(stderr, "spikefa_main: out of memory for %ld samples\\n", B);
        return 3;
    }}
    for (long b = 0; b < B; ++b) spikefa_reset(&st[b]);
    for (long t = 0; t < T; ++t) {{
        for (long b = 0; b < B; ++b) {{
            for (long j = 0; j < N; ++j) {{
                int bit = next_bit();
                if (bit < 0) {{
                    fprintf(stderr, "spikefa_main: input ended at step %ld, sample %ld, input %ld\\n", t, b, j);
                    return 4;
                }}
                in[j] = (uint8_t)bit;
            }}
            spikefa_step(&st[b], in, out);
{prints}        }}
    }}
    free(st);
    return 0;
}}
"""


def write(qnet: QuantizedNet, out_dir: Path, meta: dict[str, Any]) -> list[Path]:
    """Write ``spikefa_model.h`` and ``spikefa_main.c`` into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / HEADER).write_text(header(qnet, meta))
    (out_dir / RUNNER).write_text(runner(qnet))
    return [out_dir / HEADER, out_dir / RUNNER]


def find_compiler() -> str | None:
    """$CC, else cc, gcc or clang on PATH."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def run_c(out_dir: Path, x: torch.Tensor, cc: str | None = None) -> tuple[torch.Tensor, ...]:
    """Compile the runner (-std=c99 -Wall -Werror) and run it on x [T, B, ...]; every layer's spikes."""
    compiler = cc or find_compiler()
    if compiler is None:
        raise SpikefaError("no C compiler found (set $CC or install gcc) to run the C artefact")
    h = x.reshape(x.shape[0], x.shape[1], -1).to(torch.int64)
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "spikefa_runner"
        subprocess.run([compiler, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(exe),
                        str(out_dir / RUNNER)], check=True, capture_output=True, text=True)
        text = f"{h.shape[0]} {h.shape[1]} {h.shape[2]}\n" + "".join(map(str, h.flatten().tolist()))
        done = subprocess.run([str(exe)], input=text, check=True, capture_output=True, text=True)
    rows = [line.split(" ") for line in done.stdout.splitlines()]
    per_layer = list(zip(*rows))
    return tuple(torch.tensor([[int(c) for c in s] for s in layer]).reshape(h.shape[0], h.shape[1], -1)
                 for layer in per_layer)


def verify(qnet: QuantizedNet, out_dir: Path, spikes: torch.Tensor) -> Verification:
    """The compiled C runner against the integer simulator, every layer's spikes."""
    if find_compiler() is None:
        return Verification("c", "integer simulator", 0, 0, "no C compiler found; not run", skipped=True)
    got = run_c(out_dir, spikes)
    want = run_int(qnet, spikes).spikes
    return Verification("c", "integer simulator (spikefa.export.simulate.run_int)",
                        sum(count_mismatches(g, w) for g, w in zip(got, want)), sum(int(w.numel()) for w in want),
                        f"{find_compiler()} -std=c99 -O2 -Wall -Wextra -Werror, every layer")
