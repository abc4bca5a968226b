"""Training-step time of a LoKr-adapted square Linear: the Kronecker forward against a materialised delta_W.

Three ways to run `y = x (W + delta_W)^T + b` with W frozen, delta_W = s * kron(W1, W2a @ W2b), input x requiring grad
(as inside a network), timed for forward + backward:

- kron:   x W^T + b + s * W1 X W2^T per token (`LoKr.adapted_forward`, what `AdaptedLayer` runs: `KronLinearFn` for a
          plain Linear, one autograd node): delta_W is never built;
- fold:   F.linear(x, W + delta_W, b): delta_W built, one GEMM forward, but backward needs the gradient of W + delta_W
          (a second full GEMM);
- sep:    base(x) + F.linear(x, delta_W): delta_W built and applied as a second GEMM (PEFT's LoKr forward).

The variants are run in turn within each repeat (so that the load of the machine hits them alike) and the median
of the repeats is printed with the ratios to `kron` side by side. Absolute times depend on the machine; the ratios
travel better.

Usage: python benchmarks/lokr_speed.py [--dims 1024 4096] [--tokens 2048] [--r 8] [--repeats 7] [--threads 2]
"""
import argparse, statistics, time
import torch
import torch.nn.functional as F
from torch import nn
from relora.lokr import LoKr


def step_fns(d, r, tokens):
    "Closures that run one forward + backward of each variant on a d x d layer."
    lin = nn.Linear(d, d).requires_grad_(False)
    ad = LoKr(lin, r=r, alpha=2 * r)
    with torch.no_grad():
        for p in ad.parameters(): p.normal_(std=0.02)          # a trained-looking, non-zero adapter
    x = torch.randn(tokens, d, requires_grad=True)
    g = torch.randn(tokens, d)                                  # dL/dy from the layers above
    def run(f):
        def step():
            x.grad = None
            for p in ad.parameters(): p.grad = None
            f().backward(g)
        return step
    return {'kron': run(lambda: ad.adapted_forward(lin, x)),
            'fold': run(lambda: F.linear(x, lin.weight + ad.delta_weight(), lin.bias)),
            'sep':  run(lambda: lin(x) + F.linear(x, ad.delta_weight()))}, ad


def check(ad, d):
    "The Kronecker forward and the materialised delta_W give the same output (the timing compares like with like)."
    torch.manual_seed(0); x = torch.randn(8, d); lin = nn.Linear(d, d)
    y = ad.adapted_forward(lin, x)
    torch.testing.assert_close(y, F.linear(x, lin.weight + ad.delta_weight(), lin.bias), rtol=1e-4, atol=1e-4)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--dims', type=int, nargs='+', default=[1024, 4096])
    p.add_argument('--tokens', type=int, default=2048)
    p.add_argument('--r', type=int, default=8)
    p.add_argument('--repeats', type=int, default=7)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {a.tokens} tokens, r={a.r}, "
          f"median of {a.repeats} forward+backward steps")
    print(f"{'d':>5} {'W1':>7} {'W2':>13} {'kron ms':>9} {'fold ms':>9} {'sep ms':>9} {'fold/kron':>10} {'sep/kron':>9}")
    for d in a.dims:
        fns, ad = step_fns(d, a.r, a.tokens)
        check(ad, d)
        times = {k: [] for k in fns}
        for f in fns.values(): f()                              # warm-up
        for _ in range(a.repeats):
            for k, f in fns.items():
                t0 = time.perf_counter(); f(); times[k].append(time.perf_counter() - t0)
        m = {k: 1e3 * statistics.median(v) for k, v in times.items()}
        A, B, C, D = ad.dims
        w2 = f"{C}x{D}" + ('' if ad.full_w2 else f" (r={a.r})")
        print(f"{d:>5} {A:>3}x{B:<3} {w2:>13} {m['kron']:>9.1f} {m['fold']:>9.1f} {m['sep']:>9.1f} "
              f"{m['fold'] / m['kron']:>10.2f} {m['sep'] / m['kron']:>9.2f}")


if __name__ == '__main__': main()
