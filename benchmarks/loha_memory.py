"""Memory of LoHa's custom autograd function (HadaWeight) against plain autograd, one 1024 x 1024 layer, r = 8.

Run: python benchmarks/loha_memory.py [--out 1024 --in 1024 --r 8 --tokens 64 --repeats 5]
Prints (MB = 10^6 bytes):
1. the bytes autograd saves for backward (counted with torch.autograd.graph.saved_tensors_hooks, each storage
   once), for building delta_W alone and for the whole adapted forward, and how many of them are new memory
   (not the parameters themselves);
2. the peak memory of one training step (forward, backward, SGD step; batch of --tokens rows) above the memory
   in use when the step starts, measured two ways: (a) torch's CPU allocator, replaying every allocation and
   free that torch.profiler(profile_memory=True) records; (b) the peak RSS of a fresh process per variant
   (VmHWM, reset through /proc/self/clear_refs), with glibc's mmap threshold fixed at 64 KiB so that every
   large tensor gets its own pages and gives them back when freed. (a) sees only torch's allocations, exactly;
   (b) sees the whole process, including what the allocator and the math library hold. tracemalloc sees neither.
The two LoHa rows run the fold path, F.linear(x, W + delta_W), so that they differ only in how delta_W is built; the row
'LoHa, relora default forward' is the library's own choice (for a linear layer, the factored base(x) + s U (V^T x) when it
costs fewer multiply-adds, which never builds delta_W). LoRA with the same parameter count (rank 2r) is a reference row:
it never builds a dense delta_W.
LyCORIS's LoHa (lycoris.modules.LohaModule, same factor shapes, alpha = r) is a peer row when lycoris-lora is installed
(skipped with a message if not): its default mode, which builds delta_W with its own HadaWeight Function, forms W + delta_W,
takes W back out and applies delta_W as a second GEMM beside the base layer's; and its bypass mode (bypass_mode=True)."""
import argparse, json, os, re, statistics, subprocess, sys
import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import profile, ProfilerActivity
from relora.adapters import AdaptedLayer
from relora.lora import LoRA
from relora.loha import LoHa

class FoldLoHa(LoHa):
    "relora's LoHa on its fold path, F.linear(x, W + delta_W): delta_W built by HadaWeight (the default forward may be factored)."
    def adapted_forward(self, base, x, *args, **kw): return F.linear(x, base.weight + self.delta_weight(), base.bias)

class NaiveLoHa(FoldLoHa):
    "The same LoHa with delta_W built by plain autograd, which keeps P1 = w1_a @ w1_b and P2 = w2_a @ w2_b for backward."
    def delta_weight(self):
        d = (self.hada_w1_a @ self.hada_w1_b) * (self.hada_w2_a @ self.hada_w2_b) * self.scale
        return d.T if self.transposed else d.view(self.weight_shape)

VARIANTS = {'LoHa, HadaWeight': lambda base, r: FoldLoHa(base, r=r), 'LoHa, plain autograd': lambda base, r: NaiveLoHa(base, r=r),
            'LoRA, rank 2r (same params)': lambda base, r: LoRA(base, r=2 * r),
            'LoHa, relora default forward': lambda base, r: LoHa(base, r=r)}
try:
    from lycoris.modules import LohaModule
    LYCORIS = {'LyCORIS LoHa, default': dict(), 'LyCORIS LoHa, bypass': dict(bypass_mode=True)}
except ImportError as e:
    LohaModule, LYCORIS = None, {}
    print(f'# lycoris-lora not importable ({e}): LyCORIS LoHa rows skipped')
ALL = list(VARIANTS) + list(LYCORIS)

def make(variant, a):
    """An adapted frozen nn.Linear(in, out), its SGD optimizer, the input, and a training step; also the closure that
    builds delta_W alone (None for LoRA) and every parameter involved (adapter's and base layer's)."""
    torch.manual_seed(0)
    base = nn.Linear(a.in_features, a.out_features).requires_grad_(False)
    if variant in LYCORIS:
        layer = LohaModule('fc', base, multiplier=1.0, lora_dim=a.r, alpha=a.r, **LYCORIS[variant])
        adapter, delta = layer, lambda: layer.get_weight(layer.shape) * layer.scalar   # what its forward builds
    else:
        layer = AdaptedLayer(base, VARIANTS[variant](base, a.r), 'fc')
        adapter = layer.adapter
        delta = adapter.delta_weight if variant.startswith('LoHa') else None
    with torch.no_grad():   # as after some training: no factor is zero (LoHa's w2_a, LoRA's B start at 0)
        for p in adapter.parameters(): p.normal_(std=0.1)
    opt = torch.optim.SGD(adapter.parameters(), lr=1e-3)
    x = torch.randn(a.tokens, a.in_features, requires_grad=True)   # a layer inside a model: its input needs a gradient
    def step():
        layer(x).square().mean().backward(); opt.step(); opt.zero_grad(set_to_none=True); x.grad = None
    layer.delta_fn, layer.all_params = delta, list(adapter.parameters()) + list(base.parameters())
    return layer, x, step

def saved(fn, params):
    "(all, new) bytes of the distinct storages autograd saves while running fn(); 'new' leaves out the parameters'."
    seen = {}
    def pack(t): seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes(); return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t): fn()
    own = {p.untyped_storage().data_ptr() for p in params}
    return sum(seen.values()), sum(n for k, n in seen.items() if k not in own)

def _events(evs):
    for e in evs: yield e; yield from _events(e.children)

def peak_torch(step):
    "Peak bytes held by torch's CPU allocator during step(), above the level at its start (allocation events of torch.profiler)."
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof: step()
    allocs = sorted((e.start_time_ns, e.extra_fields.alloc_size) for e in _events(prof.profiler.kineto_results.experimental_event_tree())
                    if e.tag == torch._C._profiler._EventType.Allocation)
    level = peak = 0
    for _, n in allocs: level += n; peak = max(peak, level)
    return peak

def _status(key): return 1024 * int(re.search(rf'{key}:\s+(\d+) kB', open('/proc/self/status').read()).group(1))

def rss_child(variant, a):
    "In a fresh process: median over --repeats steps of peak RSS during the step minus RSS before it."
    torch.set_num_threads(1)
    _, _, step = make(variant, a)
    for _ in range(2): step()   # warm up: lazy initialisation, first allocations
    peaks = []
    for _ in range(a.repeats):
        before = _status('VmRSS')
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')   # VmHWM := VmRSS
        step(); peaks.append(_status('VmHWM') - before)
    print(json.dumps(statistics.median(peaks)))

def peak_rss(variant, a):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536', GLIBC_TUNABLES='glibc.malloc.mmap_threshold=65536')
    args = [sys.executable, os.path.abspath(__file__), '--rss-child', variant, '--out', str(a.out_features),
            '--in', str(a.in_features), '--r', str(a.r), '--tokens', str(a.tokens), '--repeats', str(a.repeats)]
    res = subprocess.run(args, env=env, capture_output=True, text=True)
    if res.returncode: return None   # e.g. /proc/self/clear_refs not writable here
    return json.loads(res.stdout.strip().splitlines()[-1])

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', dest='out_features', type=int, default=1024); p.add_argument('--in', dest='in_features', type=int, default=1024)
    p.add_argument('--r', type=int, default=8); p.add_argument('--tokens', type=int, default=64)
    p.add_argument('--repeats', type=int, default=5); p.add_argument('--rss-child', default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.rss_child: return rss_child(a.rss_child, a)
    MB = lambda n: 'n/a' if n is None else f'{n / 1e6:.3f}'
    print(f'nn.Linear({a.in_features}, {a.out_features}), r = {a.r}, batch {a.tokens} x {a.in_features}, float32, torch {torch.__version__}\n')
    print('1. saved for backward (MB)')
    print(f"{'variant':28} {'delta_W: all':>13} {'new':>8} {'forward: all':>13} {'new':>8}")
    res, fwd = {}, {}
    for v in ALL:
        layer, x, step = make(v, a)
        ps = layer.all_params   # the adapter's and the base layer's: saving them costs no memory
        d = saved(layer.delta_fn, ps) if layer.delta_fn else (None, None)
        f = saved(lambda: layer(x), ps)
        res[v], fwd[v] = d, f
        print(f'{v:28} {MB(d[0]):>13} {MB(d[1]):>8} {MB(f[0]):>13} {MB(f[1]):>8}')
    c, n = res['LoHa, HadaWeight'][0], res['LoHa, plain autograd'][0]
    print(f'delta_W: plain autograd saves {n / c:.1f}x the bytes HadaWeight saves ({MB(n)} MB vs {MB(c)} MB)')
    for v in LYCORIS:   # 'new' bytes: saving a parameter (LyCORIS saves the base W for base(x)) costs no memory
        for ref in ('LoHa, HadaWeight', 'LoHa, relora default forward'):
            print(f'forward, new bytes saved: {v} / {ref} = {fwd[v][1] / fwd[ref][1]:.2f}x ({MB(fwd[v][1])} MB vs {MB(fwd[ref][1])} MB)')
    print()
    print('2. peak memory of one training step above its start (MB)')
    print(f"{'variant':28} {'torch allocator':>16} {'process RSS':>12}")
    peaks = {}
    for v in ALL:
        _, _, step = make(v, a); step()
        peaks[v] = (peak_torch(step), peak_rss(v, a))
        print(f'{v:28} {MB(peaks[v][0]):>16} {MB(peaks[v][1]):>12}')
    (ct, cr), (nt, nr) = peaks['LoHa, HadaWeight'], peaks['LoHa, plain autograd']
    print(f'peak, plain autograd / HadaWeight: {nt / ct:.2f}x (torch allocator)' + (f', {nr / cr:.2f}x (RSS)' if cr and nr else ''))
    for v in LYCORIS:
        for ref in ('LoHa, HadaWeight', 'LoHa, relora default forward'):
            (lt, lr), (rt, rr) = peaks[v], peaks[ref]
            print(f'peak, {v} / {ref}: {lt / rt:.2f}x (torch allocator)' + (f', {lr / rr:.2f}x (RSS)' if rr and lr else ''))

if __name__ == '__main__': main()
