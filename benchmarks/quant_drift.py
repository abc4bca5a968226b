"""Drift of a 4-bit (NF4) base weight over ReLoRA resets, with and without a float32 master copy.

Run: python benchmarks/quant_drift.py [--resets 50]   (needs bitsandbytes; CPU is enough)
Prints the relative Frobenius error |D(Q(W_k)) - (W + sum dW)| / |W + sum dW| after resets 1, 10, ..., and
the error of one quantization of the exact sum, for several layer shapes and update sizes |dW_k| / |W|."""
import argparse
from relora.quant import merge_drift, has_bnb

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--resets', type=int, default=50); p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    if not has_bnb(): raise SystemExit("benchmarks/quant_drift.py needs bitsandbytes: pip install bitsandbytes")
    marks = sorted({1, 10, a.resets} | set(range(10, a.resets + 1, 10)))
    print(f"{'shape':>9} {'|dW|/|W|':>8} {'master':>6} {'one Q':>6}  " + ' '.join(f'k={k:<4d}' for k in marks))
    for shape in [(64, 64), (256, 256), (512, 128)]:
        for rel in [0.01, 0.05, 0.2]:
            for master in (False, True):
                d = merge_drift(master, resets=a.resets, rel=rel, shape=shape, r=8, seed=a.seed)
                print(f"{'x'.join(map(str, shape)):>9} {rel:8.2f} {str(master):>6} {d['one_quant_error']:6.4f}  "
                      + ' '.join(f"{d['errors'][k - 1]:6.4f}" for k in marks))

if __name__ == '__main__': main()
